/* db.c -- (being written) */
