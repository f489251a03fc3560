/*
 * FMI 2.0 Co-Simulation wrapper for the thermal zone in model.h.
 *
 * Only the fmi2 functions an importer may call for Co-Simulation are defined
 * (FMPy resolves every one of them when it loads the library, so none may be
 * missing); the Model Exchange ones are not, since this FMU declares no
 * <ModelExchange> interface.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fmi2Functions.h"
#include "model.h"

/* Must equal the guid attribute in fmi2/modelDescription.xml: an importer
 * that pairs this binary with another model description must be refused. */
#define GUID "{a5038236-119b-47d0-97c9-0b7fdfc57d89}"

/* Bit flags so that every function can state the states it is legal in. */
enum {
    INSTANTIATED = 1, INIT_MODE = 2, STEP_COMPLETE = 4, TERMINATED = 8, ERROR = 16,
    ANY_STATE = 31
};

/* What an FMU state snapshot holds: everything that changes while the FMU
 * runs, but not the instance's identity (name, callbacks, logging). No
 * padding between members, so serialized bytes are all initialized. */
typedef struct {
    tz_model m;
    double stop_time;
    int stop_time_defined;
    int state;
} Snapshot;

typedef struct {
    char *name;
    fmi2CallbackFunctions cb; /* copied: the importer's struct may not outlive us */
    int log_events;
    Snapshot s;
} Instance;

/* Serialized layout: 8-byte tag, then the Snapshot. The tag rejects bytes
 * produced by another FMU (or by the FMI 3 build, whose states differ). */
static const fmi2Byte TAG[8] = {'T', 'Z', 'F', 'M', 'I', '2', 0, 1};
#define SERIALIZED_SIZE (sizeof TAG + sizeof(Snapshot))

static const char *state_name(int s) {
    switch (s) {
    case INSTANTIATED: return "Instantiated";
    case INIT_MODE: return "Initialization Mode";
    case STEP_COMPLETE: return "Step Complete";
    case TERMINATED: return "Terminated";
    default: return "Error";
    }
}

/* Errors are always reported; everything else only with logging on. */
static void vlog(Instance *c, fmi2Status status, const char *fmt, va_list ap) {
    char msg[512];
    if (!c->cb.logger || (status < fmi2Error && !c->log_events)) return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* The logger's message is itself a format string: never pass ours raw. */
    c->cb.logger(c->cb.componentEnvironment, c->name, status,
                 status >= fmi2Error ? "logStatusError" : "logEvents", "%s", msg);
}

static void say(Instance *c, fmi2Status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(c, status, fmt, ap);
    va_end(ap);
}

/* After fmi2Error the standard only allows reset, free, reading values or
 * restoring a saved FMU state, so the instance remembers it failed. */
static fmi2Status fail(Instance *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(c, fmi2Error, fmt, ap);
    va_end(ap);
    c->s.state = ERROR;
    return fmi2Error;
}

static int allowed(Instance *c, const char *f, int states) {
    if (!c) return 0;
    if (c->s.state & states) return 1;
    fail(c, "%s: not allowed in state %s", f, state_name(c->s.state));
    return 0;
}

#define ENTER(f, states)                                                       \
    Instance *c = (Instance *)comp;                                            \
    if (!allowed(c, f, states)) return fmi2Error

static void reset_snapshot(Snapshot *s) {
    memset(s, 0, sizeof *s);
    tz_defaults(&s->m);
    s->state = INSTANTIATED;
}

/* ---------------------------------------------------------------- common */

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Component fmi2Instantiate(fmi2String instanceName, fmi2Type fmuType,
                              fmi2String fmuGUID, fmi2String resourceLocation,
                              const fmi2CallbackFunctions *functions,
                              fmi2Boolean visible, fmi2Boolean loggingOn) {
    const char *why = NULL;
    Instance *c;
    if (!functions) return NULL;
    if (!functions->allocateMemory || !functions->freeMemory)
        why = "the allocateMemory and freeMemory callbacks are required";
    else if (!instanceName || !instanceName[0]) why = "instanceName must be a non-empty string";
    else if (fmuType != fmi2CoSimulation) why = "only fmi2CoSimulation is supported";
    else if (!fmuGUID || strcmp(fmuGUID, GUID) != 0)
        why = "fmuGUID does not match the GUID this binary was built for (" GUID ")";
    if (why) { /* no instance yet, so straight to the importer's logger */
        if (functions->logger)
            functions->logger(functions->componentEnvironment, instanceName ? instanceName : "",
                              fmi2Error, "logStatusError", "fmi2Instantiate: %s", why);
        return NULL;
    }
    c = functions->allocateMemory(1, sizeof *c);
    if (!c) return NULL;
    c->name = functions->allocateMemory(strlen(instanceName) + 1, 1);
    if (!c->name) { functions->freeMemory(c); return NULL; }
    strcpy(c->name, instanceName);
    c->cb = *functions;
    c->log_events = loggingOn;
    reset_snapshot(&c->s);
    return c;
}

void fmi2FreeInstance(fmi2Component comp) {
    Instance *c = (Instance *)comp;
    fmi2CallbackFreeMemory release;
    if (!c) return;
    release = c->cb.freeMemory;
    release(c->name);
    release(c);
}

fmi2Status fmi2SetDebugLogging(fmi2Component comp, fmi2Boolean loggingOn,
                               size_t nCategories, const fmi2String categories[]) {
    size_t i;
    int events = nCategories == 0; /* no list means "all categories" */
    ENTER("fmi2SetDebugLogging", ANY_STATE);
    for (i = 0; i < nCategories; i++) {
        if (categories[i] && strcmp(categories[i], "logEvents") == 0) events = 1;
        else if (!categories[i] || strcmp(categories[i], "logStatusError") != 0)
            return fail(c, "fmi2SetDebugLogging: unknown log category \"%s\"",
                        categories[i] ? categories[i] : "(null)");
    }
    c->log_events = loggingOn && events;
    return fmi2OK;
}

fmi2Status fmi2SetupExperiment(fmi2Component comp, fmi2Boolean toleranceDefined,
                               fmi2Real tolerance, fmi2Real startTime,
                               fmi2Boolean stopTimeDefined, fmi2Real stopTime) {
    ENTER("fmi2SetupExperiment", INSTANTIATED);
    /* The tolerance is irrelevant: the step is solved exactly. */
    if (!isfinite(startTime) || (stopTimeDefined && !(stopTime >= startTime)))
        return fail(c, "fmi2SetupExperiment: invalid times (startTime = %g, stopTime = %g)",
                    startTime, stopTime);
    c->s.m.time = startTime;
    c->s.stop_time_defined = stopTimeDefined != fmi2False;
    c->s.stop_time = stopTime;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component comp) {
    ENTER("fmi2EnterInitializationMode", INSTANTIATED);
    c->s.state = INIT_MODE;
    return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component comp) {
    int bad;
    ENTER("fmi2ExitInitializationMode", INIT_MODE);
    /* Checked here rather than in fmi2SetReal because parameters may pass
     * through invalid values while the importer sets them one by one. */
    bad = tz_check_parameters(&c->s.m);
    if (bad >= 0)
        return fail(c, "fmi2ExitInitializationMode: parameter %s = %g %s is invalid: %s must be > 0",
                    tz_vars[bad].name, tz_get(&c->s.m, bad), tz_vars[bad].unit, tz_vars[bad].name);
    c->s.m.T = c->s.m.T_start;
    c->s.state = STEP_COMPLETE;
    say(c, fmi2OK, "initialized at t = %g s: T = %g degC, time constant C/UA = %g s",
        c->s.m.time, c->s.m.T, c->s.m.C / c->s.m.UA);
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component comp) {
    ENTER("fmi2Terminate", STEP_COMPLETE);
    c->s.state = TERMINATED;
    return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component comp) {
    ENTER("fmi2Reset", ANY_STATE);
    reset_snapshot(&c->s);
    return fmi2OK;
}

/* ------------------------------------------------------- getting/setting */

fmi2Status fmi2GetReal(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                       fmi2Real value[]) {
    size_t i;
    ENTER("fmi2GetReal", INIT_MODE | STEP_COMPLETE | TERMINATED | ERROR);
    if (nvr > 0 && (!vr || !value)) return fail(c, "fmi2GetReal: NULL argument");
    for (i = 0; i < nvr; i++) {
        if (vr[i] >= TZ_NVARS) return fail(c, "fmi2GetReal: unknown value reference %u", vr[i]);
        value[i] = tz_get(&c->s.m, (int)vr[i]);
    }
    return fmi2OK;
}

fmi2Status fmi2SetReal(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                       const fmi2Real value[]) {
    size_t i;
    ENTER("fmi2SetReal", INSTANTIATED | INIT_MODE | STEP_COMPLETE);
    if (nvr > 0 && (!vr || !value)) return fail(c, "fmi2SetReal: NULL argument");
    /* Validate everything first so a rejected call changes nothing. */
    for (i = 0; i < nvr; i++) {
        if (vr[i] >= TZ_NVARS) return fail(c, "fmi2SetReal: unknown value reference %u", vr[i]);
        if (tz_vars[vr[i]].kind == TZ_OUTPUT)
            return fail(c, "fmi2SetReal: %s is an output and cannot be set", tz_vars[vr[i]].name);
        if (tz_vars[vr[i]].kind == TZ_PARAMETER && c->s.state == STEP_COMPLETE)
            return fail(c, "fmi2SetReal: parameter %s is fixed: set it before "
                           "fmi2ExitInitializationMode", tz_vars[vr[i]].name);
        if (!isfinite(value[i]))
            return fail(c, "fmi2SetReal: %s = %g is not a finite number", tz_vars[vr[i]].name,
                        value[i]);
    }
    for (i = 0; i < nvr; i++) tz_set(&c->s.m, (int)vr[i], value[i]);
    return fmi2OK;
}

/* The model has Real variables only: empty requests succeed, any value
 * reference is unknown. */
static fmi2Status no_vars(fmi2Component comp, const char *f, size_t nvr, int states) {
    ENTER(f, states);
    if (nvr > 0) return fail(c, "%s: unknown value reference (the model has only Real variables)", f);
    return fmi2OK;
}
#define GET_STATES (INIT_MODE | STEP_COMPLETE | TERMINATED | ERROR)
#define SET_STATES (INSTANTIATED | INIT_MODE | STEP_COMPLETE)

#define NO_VARS(fn, T, states)                                                 \
    fmi2Status fn(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, T value[]) { \
        return no_vars(c, #fn, nvr, states); }

NO_VARS(fmi2GetInteger, fmi2Integer, GET_STATES) NO_VARS(fmi2SetInteger, const fmi2Integer, SET_STATES)
NO_VARS(fmi2GetBoolean, fmi2Boolean, GET_STATES) NO_VARS(fmi2SetBoolean, const fmi2Boolean, SET_STATES)
NO_VARS(fmi2GetString, fmi2String, GET_STATES) NO_VARS(fmi2SetString, const fmi2String, SET_STATES)

/* ------------------------------------------------------------ FMU states */

fmi2Status fmi2GetFMUstate(fmi2Component comp, fmi2FMUstate *FMUstate) {
    ENTER("fmi2GetFMUstate", ANY_STATE & ~ERROR); /* an erroneous state is not worth keeping */
    if (!FMUstate) return fail(c, "fmi2GetFMUstate: FMUstate is NULL");
    /* A non-NULL *FMUstate is a previous snapshot the importer wants reused. */
    if (!*FMUstate && !(*FMUstate = c->cb.allocateMemory(1, sizeof(Snapshot))))
        return fail(c, "fmi2GetFMUstate: out of memory");
    *(Snapshot *)*FMUstate = c->s;
    return fmi2OK;
}

fmi2Status fmi2SetFMUstate(fmi2Component comp, fmi2FMUstate FMUstate) {
    ENTER("fmi2SetFMUstate", ANY_STATE); /* also the way out of the Error state */
    if (!FMUstate) return fail(c, "fmi2SetFMUstate: FMUstate is NULL");
    c->s = *(const Snapshot *)FMUstate;
    return fmi2OK;
}

fmi2Status fmi2FreeFMUstate(fmi2Component comp, fmi2FMUstate *FMUstate) {
    ENTER("fmi2FreeFMUstate", ANY_STATE);
    if (FMUstate && *FMUstate) {
        c->cb.freeMemory(*FMUstate);
        *FMUstate = NULL;
    }
    return fmi2OK;
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component comp, fmi2FMUstate FMUstate, size_t *size) {
    ENTER("fmi2SerializedFMUstateSize", ANY_STATE);
    if (!FMUstate || !size) return fail(c, "fmi2SerializedFMUstateSize: NULL argument");
    *size = SERIALIZED_SIZE;
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component comp, fmi2FMUstate FMUstate,
                                 fmi2Byte serializedState[], size_t size) {
    ENTER("fmi2SerializeFMUstate", ANY_STATE);
    if (!FMUstate || !serializedState) return fail(c, "fmi2SerializeFMUstate: NULL argument");
    if (size != SERIALIZED_SIZE)
        return fail(c, "fmi2SerializeFMUstate: buffer has %zu bytes, %zu expected", size,
                    (size_t)SERIALIZED_SIZE);
    memcpy(serializedState, TAG, sizeof TAG);
    memcpy(serializedState + sizeof TAG, FMUstate, sizeof(Snapshot));
    return fmi2OK;
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component comp, const fmi2Byte serializedState[],
                                   size_t size, fmi2FMUstate *FMUstate) {
    Snapshot s;
    ENTER("fmi2DeSerializeFMUstate", ANY_STATE);
    if (!serializedState || !FMUstate) return fail(c, "fmi2DeSerializeFMUstate: NULL argument");
    if (size != SERIALIZED_SIZE || memcmp(serializedState, TAG, sizeof TAG) != 0)
        return fail(c, "fmi2DeSerializeFMUstate: not a serialized ThermalZone FMI 2 state");
    memcpy(&s, serializedState + sizeof TAG, sizeof s);
    /* Bytes may come from a file: refuse a state the FMU could never be in. */
    if ((s.state != INSTANTIATED && s.state != INIT_MODE && s.state != STEP_COMPLETE &&
         s.state != TERMINATED) || (s.state == STEP_COMPLETE && tz_check_parameters(&s.m) >= 0))
        return fail(c, "fmi2DeSerializeFMUstate: corrupt state");
    if (!*FMUstate && !(*FMUstate = c->cb.allocateMemory(1, sizeof(Snapshot))))
        return fail(c, "fmi2DeSerializeFMUstate: out of memory");
    *(Snapshot *)*FMUstate = s;
    return fmi2OK;
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component comp, const fmi2ValueReference vUnknown_ref[],
                                        size_t nUnknown, const fmi2ValueReference vKnown_ref[],
                                        size_t nKnown, const fmi2Real dvKnown[], fmi2Real dvUnknown[]) {
    ENTER("fmi2GetDirectionalDerivative", ANY_STATE);
    return fail(c, "fmi2GetDirectionalDerivative: not supported (providesDirectionalDerivative=false)");
}

/* -------------------------------------------------------- co-simulation */

fmi2Status fmi2SetRealInputDerivatives(fmi2Component comp, const fmi2ValueReference vr[],
                                       size_t nvr, const fmi2Integer order[], const fmi2Real value[]) {
    ENTER("fmi2SetRealInputDerivatives", ANY_STATE);
    return fail(c, "fmi2SetRealInputDerivatives: not supported (canInterpolateInputs=false)");
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component comp, const fmi2ValueReference vr[],
                                        size_t nvr, const fmi2Integer order[], fmi2Real value[]) {
    ENTER("fmi2GetRealOutputDerivatives", ANY_STATE);
    return fail(c, "fmi2GetRealOutputDerivatives: not supported (maxOutputDerivativeOrder=0)");
}

fmi2Status fmi2DoStep(fmi2Component comp, fmi2Real currentCommunicationPoint,
                      fmi2Real communicationStepSize, fmi2Boolean noSetFMUStatePriorToCurrentPoint) {
    const double t = currentCommunicationPoint, h = communicationStepSize;
    ENTER("fmi2DoStep", STEP_COMPLETE);
    if (!isfinite(h) || h < 0.0)
        return fail(c, "fmi2DoStep: communicationStepSize = %g is invalid: it must be finite and >= 0", h);
    /* A mismatch means the importer lost track of time (e.g. forgot to
     * restore a state); stepping anyway would silently shift the result. */
    if (!isfinite(t) || fabs(t - c->s.m.time) > 1e-9 * fmax(1.0, fabs(c->s.m.time)))
        return fail(c, "fmi2DoStep: currentCommunicationPoint = %.17g but the FMU is at t = %.17g",
                    t, c->s.m.time);
    if (c->s.stop_time_defined && t + h > c->s.stop_time + 1e-9 * fmax(1.0, fabs(c->s.stop_time)))
        return fail(c, "fmi2DoStep: step to t = %g goes past stopTime = %g", t + h, c->s.stop_time);
    tz_step(&c->s.m, h);
    c->s.m.time = t + h;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component comp) {
    ENTER("fmi2CancelStep", ANY_STATE);
    return fail(c, "fmi2CancelStep: fmi2DoStep never returns fmi2Pending (canRunAsynchronuously=false)");
}

/* The standard answers a status kind the slave cannot provide with
 * fmi2Discard, which does not put the instance in error. */
static fmi2Status no_status(fmi2Component comp, const char *f, fmi2StatusKind s) {
    ENTER(f, ANY_STATE);
    say(c, fmi2Discard, "%s: status kind %d is not available", f, (int)s);
    return fmi2Discard;
}

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value) {
    return no_status(c, "fmi2GetStatus", s);
}
fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value) {
    return no_status(c, "fmi2GetIntegerStatus", s);
}
fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value) {
    return no_status(c, "fmi2GetStringStatus", s);
}

fmi2Status fmi2GetRealStatus(fmi2Component comp, const fmi2StatusKind s, fmi2Real *value) {
    ENTER("fmi2GetRealStatus", ANY_STATE);
    if (s != fmi2LastSuccessfulTime || !value) return no_status(comp, "fmi2GetRealStatus", s);
    *value = c->s.m.time;
    return fmi2OK;
}

fmi2Status fmi2GetBooleanStatus(fmi2Component comp, const fmi2StatusKind s, fmi2Boolean *value) {
    ENTER("fmi2GetBooleanStatus", ANY_STATE);
    if (s != fmi2Terminated || !value) return no_status(comp, "fmi2GetBooleanStatus", s);
    *value = fmi2False; /* the model never asks to stop the simulation */
    return fmi2OK;
}
