/* respond.c -- (being written) */
