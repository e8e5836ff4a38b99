/* sockopt.c -- (being written) */
