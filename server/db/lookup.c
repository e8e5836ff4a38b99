/* lookup.c -- (being written) */
