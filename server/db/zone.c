/* zone.c -- (being written) */
