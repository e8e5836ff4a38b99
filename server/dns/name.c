/* name.c -- (being written) */
