/* snapshot.c -- (being written) */
