/* udp.c -- (being written) */
