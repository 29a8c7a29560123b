/*
 * What the native benchmark programs share: the clock they time with and how they fail.
 * Define PROGRAM (the program's name, for error messages) before including this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Prints "PROGRAM: msg" on stderr and exits with status 2 (bad usage or input). */
static void die(const char *msg) {
  fprintf(stderr, "%s: %s\n", PROGRAM, msg);
  exit(2);
}
