/* main.c -- (being written) */
