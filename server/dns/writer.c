/* writer.c -- (being written) */
