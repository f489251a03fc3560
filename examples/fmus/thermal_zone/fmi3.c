/*
 * FMI 3.0 Co-Simulation wrapper for the thermal zone in model.h.
 *
 * FMPy resolves every fmi3 function when it loads the library, whatever the
 * interface type, so all of them are defined; those that do not apply to a
 * Co-Simulation FMU without events, clocks or derivatives log why and return
 * fmi3Error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"
#include "model.h"

/* Must equal instantiationToken in fmi3/modelDescription.xml. */
#define TOKEN "{37cfec96-52d5-47ac-bb1d-8282f8a10e7d}"

#define VR_TIME 0 /* the independent variable; the model's variables follow */

enum {
    INSTANTIATED = 1, INIT_MODE = 2, STEP_MODE = 4, TERMINATED = 8, ERROR = 16,
    ANY_STATE = 31
};

/* Everything that changes while the FMU runs (see fmi2.c); no padding. */
typedef struct {
    tz_model m;
    double stop_time;
    int stop_time_defined;
    int state;
} Snapshot;

/* FMI 3 log messages carry no instance name, so none is kept. */
typedef struct {
    fmi3InstanceEnvironment env;
    fmi3LogMessageCallback log;
    int log_events;
    Snapshot s;
} Instance;

static const fmi3Byte TAG[8] = {'T', 'Z', 'F', 'M', 'I', '3', 0, 1};
#define SERIALIZED_SIZE (sizeof TAG + sizeof(Snapshot))

static const char *state_name(int s) {
    return s == INSTANTIATED ? "Instantiated" : s == INIT_MODE ? "Initialization Mode"
         : s == STEP_MODE ? "Step Mode" : s == TERMINATED ? "Terminated" : "Error";
}

/* Errors are always reported; everything else only with logging on. */
static void vlog(Instance *c, fmi3Status status, const char *fmt, va_list ap) {
    char msg[512];
    if (!c->log || (status < fmi3Error && !c->log_events)) return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    c->log(c->env, status, status >= fmi3Error ? "logStatusError" : "logEvents", msg);
}

static void say(Instance *c, fmi3Status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(c, status, fmt, ap);
    va_end(ap);
}

/* After fmi3Error only reset, free or restoring a saved state are sensible. */
static fmi3Status fail(Instance *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(c, fmi3Error, fmt, ap);
    va_end(ap);
    c->s.state = ERROR;
    return fmi3Error;
}

static int allowed(Instance *c, const char *f, int states) {
    if (!c) return 0;
    if (c->s.state & states) return 1;
    fail(c, "%s: not allowed in state %s", f, state_name(c->s.state));
    return 0;
}

#define ENTER(f, states)                                                       \
    Instance *c = (Instance *)instance;                                        \
    if (!allowed(c, f, states)) return fmi3Error

static void reset_snapshot(Snapshot *s) {
    memset(s, 0, sizeof *s);
    tz_defaults(&s->m);
    s->state = INSTANTIATED;
}

/* ---------------------------------------------------------- life cycle */

const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Instance fmi3InstantiateCoSimulation(
    fmi3String instanceName, fmi3String instantiationToken, fmi3String resourcePath,
    fmi3Boolean visible, fmi3Boolean loggingOn, fmi3Boolean eventModeUsed,
    fmi3Boolean earlyReturnAllowed, const fmi3ValueReference requiredIntermediateVariables[],
    size_t nRequiredIntermediateVariables, fmi3InstanceEnvironment instanceEnvironment,
    fmi3LogMessageCallback logMessage, fmi3IntermediateUpdateCallback intermediateUpdate) {
    const char *why = NULL;
    Instance *c;
    if (!instanceName || !instanceName[0]) why = "instanceName must be a non-empty string";
    else if (!instantiationToken || strcmp(instantiationToken, TOKEN) != 0)
        why = "instantiationToken does not match the one this binary was built for (" TOKEN ")";
    else if (eventModeUsed) /* the standard requires failing when hasEventMode=false */
        why = "eventModeUsed=true but this FMU has no Event Mode (hasEventMode=false)";
    if (why) {
        char msg[256];
        snprintf(msg, sizeof msg, "fmi3InstantiateCoSimulation: %s", why);
        if (logMessage) logMessage(instanceEnvironment, fmi3Error, "logStatusError", msg);
        return NULL;
    }
    /* earlyReturnAllowed and intermediate variables are irrelevant: a step is
     * one closed-form update that never returns early. */
    if (!(c = calloc(1, sizeof *c))) return NULL;
    c->env = instanceEnvironment;
    c->log = logMessage;
    c->log_events = loggingOn;
    reset_snapshot(&c->s);
    return c;
}

#define REFUSE(f) \
    if (logMessage) logMessage(instanceEnvironment, fmi3Error, "logStatusError", f ": Co-Simulation only"); \
    return NULL

fmi3Instance fmi3InstantiateModelExchange(fmi3String instanceName, fmi3String instantiationToken,
    fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
    fmi3InstanceEnvironment instanceEnvironment, fmi3LogMessageCallback logMessage) {
    REFUSE("fmi3InstantiateModelExchange");
}

fmi3Instance fmi3InstantiateScheduledExecution(fmi3String instanceName,
    fmi3String instantiationToken, fmi3String resourcePath, fmi3Boolean visible,
    fmi3Boolean loggingOn, fmi3InstanceEnvironment instanceEnvironment,
    fmi3LogMessageCallback logMessage, fmi3ClockUpdateCallback clockUpdate,
    fmi3LockPreemptionCallback lockPreemption, fmi3UnlockPreemptionCallback unlockPreemption) {
    REFUSE("fmi3InstantiateScheduledExecution");
}

void fmi3FreeInstance(fmi3Instance instance) { free(instance); }

fmi3Status fmi3SetDebugLogging(fmi3Instance instance, fmi3Boolean loggingOn,
                               size_t nCategories, const fmi3String categories[]) {
    size_t i;
    int events = nCategories == 0; /* no list means "all categories" */
    ENTER("fmi3SetDebugLogging", ANY_STATE);
    for (i = 0; i < nCategories; i++) {
        if (categories[i] && strcmp(categories[i], "logEvents") == 0) events = 1;
        else if (!categories[i] || strcmp(categories[i], "logStatusError") != 0)
            return fail(c, "fmi3SetDebugLogging: unknown log category \"%s\"",
                        categories[i] ? categories[i] : "(null)");
    }
    c->log_events = loggingOn && events;
    return fmi3OK;
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance instance, fmi3Boolean toleranceDefined,
                                       fmi3Float64 tolerance, fmi3Float64 startTime,
                                       fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    ENTER("fmi3EnterInitializationMode", INSTANTIATED);
    /* The tolerance is irrelevant: the step is solved exactly. */
    if (!isfinite(startTime) || (stopTimeDefined && !(stopTime >= startTime)))
        return fail(c, "fmi3EnterInitializationMode: invalid times (startTime = %g, stopTime = %g)",
                    startTime, stopTime);
    c->s.m.time = startTime;
    c->s.stop_time_defined = stopTimeDefined;
    c->s.stop_time = stopTime;
    c->s.state = INIT_MODE;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance instance) {
    int bad;
    ENTER("fmi3ExitInitializationMode", INIT_MODE);
    /* Checked here, not in fmi3SetFloat64: parameters are set one by one. */
    bad = tz_check_parameters(&c->s.m);
    if (bad >= 0)
        return fail(c, "fmi3ExitInitializationMode: parameter %s = %g %s is invalid: %s must be > 0",
                    tz_vars[bad].name, tz_get(&c->s.m, bad), tz_vars[bad].unit, tz_vars[bad].name);
    c->s.m.T = c->s.m.T_start;
    c->s.state = STEP_MODE; /* no Event Mode, so straight to Step Mode */
    say(c, fmi3OK, "initialized at t = %g s: T = %g degC, time constant C/UA = %g s",
        c->s.m.time, c->s.m.T, c->s.m.C / c->s.m.UA);
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance instance) {
    ENTER("fmi3Terminate", STEP_MODE);
    c->s.state = TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance instance) {
    ENTER("fmi3Reset", ANY_STATE);
    reset_snapshot(&c->s);
    return fmi3OK;
}

/* ----------------------------------------------------- getting/setting */

fmi3Status fmi3GetFloat64(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                          fmi3Float64 values[], size_t nValues) {
    size_t i;
    ENTER("fmi3GetFloat64", INIT_MODE | STEP_MODE | TERMINATED | ERROR);
    if (nvr > 0 && (!vr || !values)) return fail(c, "fmi3GetFloat64: NULL argument");
    if (nValues != nvr) return fail(c, "fmi3GetFloat64: nValues = %zu, expected %zu", nValues, nvr);
    for (i = 0; i < nvr; i++) {
        if (vr[i] > TZ_NVARS) return fail(c, "fmi3GetFloat64: unknown value reference %u", vr[i]);
        values[i] = vr[i] == VR_TIME ? c->s.m.time : tz_get(&c->s.m, (int)vr[i] - 1);
    }
    return fmi3OK;
}

fmi3Status fmi3SetFloat64(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                          const fmi3Float64 values[], size_t nValues) {
    size_t i;
    ENTER("fmi3SetFloat64", INSTANTIATED | INIT_MODE | STEP_MODE);
    if (nvr > 0 && (!vr || !values)) return fail(c, "fmi3SetFloat64: NULL argument");
    if (nValues != nvr) return fail(c, "fmi3SetFloat64: nValues = %zu, expected %zu", nValues, nvr);
    /* Validate everything first so a rejected call changes nothing. */
    for (i = 0; i < nvr; i++) {
        const tz_var_info *v;
        if (vr[i] == VR_TIME) return fail(c, "fmi3SetFloat64: time is the independent variable and cannot be set");
        if (vr[i] > TZ_NVARS) return fail(c, "fmi3SetFloat64: unknown value reference %u", vr[i]);
        v = &tz_vars[vr[i] - 1];
        if (v->kind == TZ_OUTPUT) return fail(c, "fmi3SetFloat64: %s is an output and cannot be set", v->name);
        if (v->kind == TZ_PARAMETER && c->s.state == STEP_MODE)
            return fail(c, "fmi3SetFloat64: parameter %s is fixed: set it before "
                           "fmi3ExitInitializationMode", v->name);
        if (!isfinite(values[i]))
            return fail(c, "fmi3SetFloat64: %s = %g is not a finite number", v->name, values[i]);
    }
    for (i = 0; i < nvr; i++) tz_set(&c->s.m, (int)vr[i] - 1, values[i]);
    return fmi3OK;
}

/* The model has Float64 variables only: empty requests succeed, any value
 * reference is unknown. */
static fmi3Status no_vars(fmi3Instance instance, const char *f, size_t nvr, int states) {
    ENTER(f, states);
    if (nvr > 0) return fail(c, "%s: unknown value reference (the model has only Float64 variables)", f);
    return fmi3OK;
}
#define GET_STATES (INIT_MODE | STEP_MODE | TERMINATED | ERROR)
#define SET_STATES (INSTANTIATED | INIT_MODE | STEP_MODE)
#define NO_VARS(fn, T, states)                                                 \
    fmi3Status fn(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, \
                  T values[], size_t nValues) { return no_vars(instance, #fn, nvr, states); }

NO_VARS(fmi3GetFloat32, fmi3Float32, GET_STATES) NO_VARS(fmi3SetFloat32, const fmi3Float32, SET_STATES)
NO_VARS(fmi3GetInt8, fmi3Int8, GET_STATES) NO_VARS(fmi3SetInt8, const fmi3Int8, SET_STATES)
NO_VARS(fmi3GetUInt8, fmi3UInt8, GET_STATES) NO_VARS(fmi3SetUInt8, const fmi3UInt8, SET_STATES)
NO_VARS(fmi3GetInt16, fmi3Int16, GET_STATES) NO_VARS(fmi3SetInt16, const fmi3Int16, SET_STATES)
NO_VARS(fmi3GetUInt16, fmi3UInt16, GET_STATES) NO_VARS(fmi3SetUInt16, const fmi3UInt16, SET_STATES)
NO_VARS(fmi3GetInt32, fmi3Int32, GET_STATES) NO_VARS(fmi3SetInt32, const fmi3Int32, SET_STATES)
NO_VARS(fmi3GetUInt32, fmi3UInt32, GET_STATES) NO_VARS(fmi3SetUInt32, const fmi3UInt32, SET_STATES)
NO_VARS(fmi3GetInt64, fmi3Int64, GET_STATES) NO_VARS(fmi3SetInt64, const fmi3Int64, SET_STATES)
NO_VARS(fmi3GetUInt64, fmi3UInt64, GET_STATES) NO_VARS(fmi3SetUInt64, const fmi3UInt64, SET_STATES)
NO_VARS(fmi3GetBoolean, fmi3Boolean, GET_STATES) NO_VARS(fmi3SetBoolean, const fmi3Boolean, SET_STATES)
NO_VARS(fmi3GetString, fmi3String, GET_STATES) NO_VARS(fmi3SetString, const fmi3String, SET_STATES)

fmi3Status fmi3GetBinary(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                         size_t valueSizes[], fmi3Binary values[], size_t nValues) {
    return no_vars(instance, "fmi3GetBinary", nvr, GET_STATES);
}
fmi3Status fmi3SetBinary(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues) {
    return no_vars(instance, "fmi3SetBinary", nvr, SET_STATES);
}

/* ---------------------------------------------------------- FMU states */

fmi3Status fmi3GetFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    ENTER("fmi3GetFMUState", ANY_STATE & ~ERROR); /* an erroneous state is not worth keeping */
    if (!FMUState) return fail(c, "fmi3GetFMUState: FMUState is NULL");
    /* A non-NULL *FMUState is a previous snapshot the importer wants reused. */
    if (!*FMUState && !(*FMUState = calloc(1, sizeof(Snapshot))))
        return fail(c, "fmi3GetFMUState: out of memory");
    *(Snapshot *)*FMUState = c->s;
    return fmi3OK;
}

fmi3Status fmi3SetFMUState(fmi3Instance instance, fmi3FMUState FMUState) {
    ENTER("fmi3SetFMUState", ANY_STATE); /* also the way out of the Error state */
    if (!FMUState) return fail(c, "fmi3SetFMUState: FMUState is NULL");
    c->s = *(const Snapshot *)FMUState;
    return fmi3OK;
}

fmi3Status fmi3FreeFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    ENTER("fmi3FreeFMUState", ANY_STATE);
    if (FMUState) {
        free(*FMUState);
        *FMUState = NULL;
    }
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance instance, fmi3FMUState FMUState, size_t *size) {
    ENTER("fmi3SerializedFMUStateSize", ANY_STATE);
    if (!FMUState || !size) return fail(c, "fmi3SerializedFMUStateSize: NULL argument");
    *size = SERIALIZED_SIZE;
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance instance, fmi3FMUState FMUState,
                                 fmi3Byte serializedState[], size_t size) {
    ENTER("fmi3SerializeFMUState", ANY_STATE);
    if (!FMUState || !serializedState) return fail(c, "fmi3SerializeFMUState: NULL argument");
    if (size != SERIALIZED_SIZE)
        return fail(c, "fmi3SerializeFMUState: buffer has %zu bytes, %zu expected", size,
                    (size_t)SERIALIZED_SIZE);
    memcpy(serializedState, TAG, sizeof TAG);
    memcpy(serializedState + sizeof TAG, FMUState, sizeof(Snapshot));
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance instance, const fmi3Byte serializedState[],
                                   size_t size, fmi3FMUState *FMUState) {
    Snapshot s;
    ENTER("fmi3DeserializeFMUState", ANY_STATE);
    if (!serializedState || !FMUState) return fail(c, "fmi3DeserializeFMUState: NULL argument");
    if (size != SERIALIZED_SIZE || memcmp(serializedState, TAG, sizeof TAG) != 0)
        return fail(c, "fmi3DeserializeFMUState: not a serialized ThermalZone FMI 3 state");
    memcpy(&s, serializedState + sizeof TAG, sizeof s);
    /* Bytes may come from a file: refuse a state the FMU could never be in. */
    if ((s.state != INSTANTIATED && s.state != INIT_MODE && s.state != STEP_MODE &&
         s.state != TERMINATED) || (s.state == STEP_MODE && tz_check_parameters(&s.m) >= 0))
        return fail(c, "fmi3DeserializeFMUState: corrupt state");
    if (!*FMUState && !(*FMUState = calloc(1, sizeof(Snapshot))))
        return fail(c, "fmi3DeserializeFMUState: out of memory");
    *(Snapshot *)*FMUState = s;
    return fmi3OK;
}

/* ------------------------------------------------------- co-simulation */

fmi3Status fmi3DoStep(fmi3Instance instance, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    const double t = currentCommunicationPoint, h = communicationStepSize;
    ENTER("fmi3DoStep", STEP_MODE);
    if (!eventHandlingNeeded || !terminateSimulation || !earlyReturn || !lastSuccessfulTime)
        return fail(c, "fmi3DoStep: NULL output argument");
    /* Defined even on failure, so the importer never reads garbage. */
    *eventHandlingNeeded = fmi3False;
    *terminateSimulation = fmi3False;
    *earlyReturn = fmi3False;
    *lastSuccessfulTime = c->s.m.time;
    if (!isfinite(h) || h < 0.0)
        return fail(c, "fmi3DoStep: communicationStepSize = %g is invalid: it must be finite and >= 0", h);
    /* A mismatch means the importer lost track of time (e.g. forgot to
     * restore a state); stepping anyway would silently shift the result. */
    if (!isfinite(t) || fabs(t - c->s.m.time) > 1e-9 * fmax(1.0, fabs(c->s.m.time)))
        return fail(c, "fmi3DoStep: currentCommunicationPoint = %.17g but the FMU is at t = %.17g",
                    t, c->s.m.time);
    if (c->s.stop_time_defined && t + h > c->s.stop_time + 1e-9 * fmax(1.0, fabs(c->s.stop_time)))
        return fail(c, "fmi3DoStep: step to t = %g goes past stopTime = %g", t + h, c->s.stop_time);
    tz_step(&c->s.m, h);
    c->s.m.time = t + h;
    *lastSuccessfulTime = c->s.m.time;
    return fmi3OK;
}

/* ------------------------------------------- not applicable to this FMU */

static fmi3Status unsupported(fmi3Instance instance, const char *f, const char *why) {
    ENTER(f, ANY_STATE);
    return fail(c, "%s: not supported (%s)", f, why);
}
#define UNSUPPORTED(fn, params, why) \
    fmi3Status fn params { return unsupported(instance, #fn, why); }
#define VRS const fmi3ValueReference valueReferences[], size_t nValueReferences
#define NO_CLOCKS "the model has no clocks"
#define NO_ME "Co-Simulation only, no Model Exchange"

UNSUPPORTED(fmi3EnterEventMode, (fmi3Instance instance), "hasEventMode=false")
UNSUPPORTED(fmi3EnterStepMode, (fmi3Instance instance), "only used after Event Mode; hasEventMode=false")
UNSUPPORTED(fmi3EnterConfigurationMode, (fmi3Instance instance), "no structural parameters")
UNSUPPORTED(fmi3ExitConfigurationMode, (fmi3Instance instance), "no structural parameters")
UNSUPPORTED(fmi3EvaluateDiscreteStates, (fmi3Instance instance), "no discrete states")
UNSUPPORTED(fmi3UpdateDiscreteStates, (fmi3Instance instance, fmi3Boolean *needUpdate,
    fmi3Boolean *terminate, fmi3Boolean *nominalsChanged, fmi3Boolean *valuesChanged,
    fmi3Boolean *nextEventTimeDefined, fmi3Float64 *nextEventTime), "hasEventMode=false")
UNSUPPORTED(fmi3GetClock, (fmi3Instance instance, VRS, fmi3Clock values[]), NO_CLOCKS)
UNSUPPORTED(fmi3SetClock, (fmi3Instance instance, VRS, const fmi3Clock values[]), NO_CLOCKS)
UNSUPPORTED(fmi3GetIntervalDecimal, (fmi3Instance instance, VRS, fmi3Float64 intervals[],
    fmi3IntervalQualifier qualifiers[]), NO_CLOCKS)
UNSUPPORTED(fmi3GetIntervalFraction, (fmi3Instance instance, VRS, fmi3UInt64 counters[],
    fmi3UInt64 resolutions[], fmi3IntervalQualifier qualifiers[]), NO_CLOCKS)
UNSUPPORTED(fmi3GetShiftDecimal, (fmi3Instance instance, VRS, fmi3Float64 shifts[]), NO_CLOCKS)
UNSUPPORTED(fmi3GetShiftFraction, (fmi3Instance instance, VRS, fmi3UInt64 counters[],
    fmi3UInt64 resolutions[]), NO_CLOCKS)
UNSUPPORTED(fmi3SetIntervalDecimal, (fmi3Instance instance, VRS, const fmi3Float64 v[]), NO_CLOCKS)
UNSUPPORTED(fmi3SetIntervalFraction, (fmi3Instance instance, VRS, const fmi3UInt64 counters[],
    const fmi3UInt64 resolutions[]), NO_CLOCKS)
UNSUPPORTED(fmi3SetShiftDecimal, (fmi3Instance instance, VRS, const fmi3Float64 v[]), NO_CLOCKS)
UNSUPPORTED(fmi3SetShiftFraction, (fmi3Instance instance, VRS, const fmi3UInt64 counters[],
    const fmi3UInt64 resolutions[]), NO_CLOCKS)
UNSUPPORTED(fmi3ActivateModelPartition, (fmi3Instance instance, fmi3ValueReference clock,
    fmi3Float64 activationTime), "Co-Simulation only, no Scheduled Execution")
UNSUPPORTED(fmi3GetNumberOfVariableDependencies, (fmi3Instance instance, fmi3ValueReference vr,
    size_t *n), "providesPerElementDependencies=false")
UNSUPPORTED(fmi3GetVariableDependencies, (fmi3Instance instance, fmi3ValueReference dependent,
    size_t iDependent[], fmi3ValueReference independents[], size_t iIndependents[],
    fmi3DependencyKind kinds[], size_t n), "providesPerElementDependencies=false")
#define DERIV_ARGS (fmi3Instance instance, const fmi3ValueReference unknowns[], size_t nUnknowns, \
    const fmi3ValueReference knowns[], size_t nKnowns, const fmi3Float64 seed[], size_t nSeed, \
    fmi3Float64 sensitivity[], size_t nSensitivity)
UNSUPPORTED(fmi3GetDirectionalDerivative, DERIV_ARGS, "providesDirectionalDerivative=false")
UNSUPPORTED(fmi3GetAdjointDerivative, DERIV_ARGS, "providesAdjointDerivative=false")
UNSUPPORTED(fmi3GetOutputDerivatives, (fmi3Instance instance, VRS, const fmi3Int32 orders[],
    fmi3Float64 values[], size_t nValues), "maxOutputDerivativeOrder=0")
UNSUPPORTED(fmi3EnterContinuousTimeMode, (fmi3Instance instance), NO_ME)
UNSUPPORTED(fmi3CompletedIntegratorStep, (fmi3Instance instance, fmi3Boolean noSetPrior,
    fmi3Boolean *enterEventMode, fmi3Boolean *terminate), NO_ME)
UNSUPPORTED(fmi3SetTime, (fmi3Instance instance, fmi3Float64 time), NO_ME)
UNSUPPORTED(fmi3SetContinuousStates, (fmi3Instance instance, const fmi3Float64 x[], size_t n), NO_ME)
UNSUPPORTED(fmi3GetContinuousStateDerivatives, (fmi3Instance instance, fmi3Float64 dx[], size_t n), NO_ME)
UNSUPPORTED(fmi3GetEventIndicators, (fmi3Instance instance, fmi3Float64 z[], size_t n), NO_ME)
UNSUPPORTED(fmi3GetContinuousStates, (fmi3Instance instance, fmi3Float64 x[], size_t n), NO_ME)
UNSUPPORTED(fmi3GetNominalsOfContinuousStates, (fmi3Instance instance, fmi3Float64 x[], size_t n), NO_ME)
UNSUPPORTED(fmi3GetNumberOfEventIndicators, (fmi3Instance instance, size_t *n), NO_ME)
UNSUPPORTED(fmi3GetNumberOfContinuousStates, (fmi3Instance instance, size_t *n), NO_ME)
