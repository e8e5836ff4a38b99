/* worker.c -- (being written) */
