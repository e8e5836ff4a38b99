/* query.c -- (being written) */
