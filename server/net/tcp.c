/* tcp.c -- (being written) */
