/*
 * Single-zone building thermal model shared by the FMI 2.0 and FMI 3.0 wrappers.
 *
 *   C dT/dt = Q_hvac - UA (T - T_out)
 *
 * Kept free of FMI types so both wrappers (and any unit test) can include it
 * and the physics lives in exactly one place.
 */
#ifndef THERMAL_ZONE_MODEL_H
#define THERMAL_ZONE_MODEL_H

#include <math.h>
#include <stddef.h>

/* Variable indices. The FMI 2 value reference equals the index; FMI 3 puts
 * the independent variable "time" at vr 0, so there vr = index + 1. */
enum {
    TZ_C, TZ_UA, TZ_T_START, /* parameters */
    TZ_Q_HVAC, TZ_T_OUT,     /* inputs */
    TZ_T, TZ_Q_LOSS,         /* outputs */
    TZ_NVARS
};

enum tz_kind { TZ_PARAMETER, TZ_INPUT, TZ_OUTPUT };

typedef struct {
    const char *name;
    const char *unit;
    enum tz_kind kind;
} tz_var_info;

static const tz_var_info tz_vars[TZ_NVARS] = {
    {"C", "J/K", TZ_PARAMETER},  {"UA", "W/K", TZ_PARAMETER},
    {"T_start", "degC", TZ_PARAMETER},
    {"Q_hvac", "W", TZ_INPUT},   {"T_out", "degC", TZ_INPUT},
    {"T", "degC", TZ_OUTPUT},    {"Q_loss", "W", TZ_OUTPUT},
};

/* Everything that defines the simulation state. It is plain old data on
 * purpose: FMU state snapshots and serialization are a memcpy of it. */
typedef struct {
    double C, UA, T_start; /* parameters */
    double Q_hvac, T_out;  /* inputs (held constant over a step) */
    double T;              /* the single continuous state */
    double time;           /* s */
} tz_model;

static inline void tz_defaults(tz_model *m) {
    m->C = 5.0e6;
    m->UA = 500.0;
    m->T_start = 21.0;
    m->Q_hvac = 0.0;
    m->T_out = 10.0;
    m->T = m->T_start; /* so T is meaningful while still initializing */
    m->time = 0.0;
}

static inline double tz_get(const tz_model *m, int index) {
    switch (index) {
    case TZ_C: return m->C;
    case TZ_UA: return m->UA;
    case TZ_T_START: return m->T_start;
    case TZ_Q_HVAC: return m->Q_hvac;
    case TZ_T_OUT: return m->T_out;
    case TZ_T: return m->T;
    default: return m->UA * (m->T - m->T_out); /* TZ_Q_LOSS */
    }
}

/* The wrappers have already checked causality and the FMI state machine. */
static inline void tz_set(tz_model *m, int index, double v) {
    switch (index) {
    case TZ_C: m->C = v; break;
    case TZ_UA: m->UA = v; break;
    /* T is initial="calculated" from T_start: keep them in step so outputs
     * read during initialization already agree with what exit will use. */
    case TZ_T_START: m->T_start = v; m->T = v; break;
    case TZ_Q_HVAC: m->Q_hvac = v; break;
    case TZ_T_OUT: m->T_out = v; break;
    default: break;
    }
}

/* Returns the index of the first invalid parameter, or -1 if all are valid.
 * Non-positive C or UA would make the exponential below blow up or divide
 * by zero, so they are rejected before any step is taken. */
static inline int tz_check_parameters(const tz_model *m) {
    if (!(m->C > 0.0) || !isfinite(m->C)) return TZ_C;
    if (!(m->UA > 0.0) || !isfinite(m->UA)) return TZ_UA;
    return -1;
}

/* Exact solution of the linear ODE with inputs held constant over h, so the
 * result does not depend on the communication step size (no integration
 * error, only rounding). Time is advanced by the wrappers, which take it from
 * the importer's communication point so that it cannot drift over long runs. */
static inline void tz_step(tz_model *m, double h) {
    const double T_eq = m->T_out + m->Q_hvac / m->UA;
    m->T = T_eq + (m->T - T_eq) * exp(-m->UA * h / m->C);
}

#endif /* THERMAL_ZONE_MODEL_H */
