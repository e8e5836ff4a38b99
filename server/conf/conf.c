/* conf.c -- (being written) */
