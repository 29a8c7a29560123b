/* PCEN + dB + clamp on frame-major powers (bench/native/pcen_db.c). */
#ifndef PCEN_DB_H
#define PCEN_DB_H

/* The smoother's steady state on the recording's first frame (SPEC §3.6: M[−1] = S[0]). */
void pcen_init(const float *powers, float *state, long bins);

/* One frame of `bins` powers in place → PCEN → 10·log10(max(·, 1e-10)) clipped to [−100, 0]; steps `state`. */
void pcen_db_frame(float *powers, float *state, long bins);

#endif
