/* pyrometer._speedups: pyrometer.context_managers.Timer in C.
 *
 * `with h.time(): pass` is dominated by interpreter overhead: building the
 * timer, a Python-level __enter__/__exit__, two time.perf_counter() calls and
 * a bound-method creation.  This type does that work without leaving C until
 * it calls the metric.  The pure-Python _PyTimer in context_managers.py is the
 * reference: any behaviour here must match it (tests/core/test_speedups.py
 * runs the same checks on both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <time.h>

/* The clock must be the one time.perf_counter() reads, so durations from
 * both implementations are comparable. */
#if PY_VERSION_HEX >= 0x030D0000
#define CLOCK_PUBLIC_API 1
#elif defined(__linux__)
#define CLOCK_LINUX 1  /* perf_counter on Linux is clock_gettime(CLOCK_MONOTONIC) before 3.13 */
#endif

static PyObject *perf_counter_func;  /* time.perf_counter: the clock elsewhere, and the unpatched default_timer */
static PyObject *context_managers;   /* pyrometer.context_managers, once it is imported */
static PyObject *default_timer_name; /* "default_timer", interned */
static PyObject *context_managers_name;

/* Store what clock() returns, as a double, in *out; -1 with an exception set on failure. */
static int
call_clock(PyObject *clock, double *out)
{
    PyObject *now = PyObject_CallNoArgs(clock);
    if (now == NULL) {
        return -1;
    }
    *out = PyFloat_AsDouble(now);
    Py_DECREF(now);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* Store the perf_counter clock, in seconds, in *out; -1 with an exception set on failure. */
static int
read_clock(double *out)
{
#if defined(CLOCK_PUBLIC_API)
    PyTime_t t;
    if (PyTime_PerfCounter(&t) < 0) {
        return -1;
    }
    *out = PyTime_AsSecondsDouble(t);
    return 0;
#elif defined(CLOCK_LINUX)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    *out = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return 0;
#else
    return call_clock(perf_counter_func, out);
#endif
}

typedef struct {
    PyObject_HEAD
    PyObject *metric;         /* `_metric`: labels() replaces it */
    PyObject *callback_name;  /* `_callback_name` */
    PyObject *duration;       /* `duration`: None until the block ends */
    PyObject *clock;          /* a patched context_managers.default_timer, or NULL for perf_counter's clock */
    double start;
    int started;              /* __exit__ without __enter__ fails, as the Python class does */
} TimerObject;

/* The pure-Python Timer calls the module global `default_timer`, which tests patch for fixed durations;
 * this one honours such a patch too (looked up at __enter__, kept for __exit__). Unpatched, the global
 * is time.perf_counter and the clock is read directly. -1 with an exception set on failure. */
static int
choose_clock(TimerObject *self)
{
    PyObject *current;

    if (context_managers == NULL) {
        context_managers = PyImport_GetModule(context_managers_name);
        if (context_managers == NULL) {  /* this module used on its own: perf_counter's clock */
            Py_CLEAR(self->clock);
            return PyErr_Occurred() ? -1 : 0;
        }
    }
    current = PyDict_GetItemWithError(PyModule_GetDict(context_managers), default_timer_name);
    if (current == NULL) {
        if (!PyErr_Occurred()) {  /* deleted: what the Python Timer would meet */
            PyErr_SetString(PyExc_NameError, "name 'default_timer' is not defined");
        }
        return -1;
    }
    if (current == perf_counter_func) {
        Py_CLEAR(self->clock);
    }
    else {
        Py_INCREF(current);
        Py_XSETREF(self->clock, current);
    }
    return 0;
}

/* The chosen clock, in seconds, in *out; -1 with an exception set on failure. */
static int
read_timer_clock(TimerObject *self, double *out)
{
    return self->clock == NULL ? read_clock(out) : call_clock(self->clock, out);
}

static PyObject *
Timer_create(PyTypeObject *type, PyObject *metric, PyObject *callback_name)
{
    TimerObject *self = (TimerObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(metric);
    self->metric = metric;
    Py_INCREF(callback_name);
    self->callback_name = callback_name;
    Py_INCREF(Py_None);
    self->duration = Py_None;
    return (PyObject *)self;
}

static PyObject *
Timer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"metric", "callback_name", NULL};
    PyObject *metric, *callback_name;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Timer", kwlist, &metric, &callback_name)) {
        return NULL;
    }
    return Timer_create(type, metric, callback_name);
}

/* Calling the type itself (never inherited by subclasses, which go through Timer_new).  `h.time()`
 * passes two positionals: build the object straight from them, without an argument tuple. */
static PyObject *
Timer_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames), i;
    PyObject *tuple, *kwds = NULL, *result = NULL;

    if (nkw == 0 && nargs == 2) {
        return Timer_create((PyTypeObject *)type, args[0], args[1]);
    }
    tuple = PyTuple_New(nargs);
    if (tuple == NULL) {
        return NULL;
    }
    for (i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(tuple, i, args[i]);
    }
    if (nkw > 0 && (kwds = PyDict_New()) == NULL) {
        goto done;
    }
    for (i = 0; i < nkw; i++) {
        if (PyDict_SetItem(kwds, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
            goto done;
        }
    }
    result = Timer_new((PyTypeObject *)type, tuple, kwds);
done:
    Py_DECREF(tuple);
    Py_XDECREF(kwds);
    return result;
}

static int
Timer_traverse(TimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->metric);
    Py_VISIT(self->callback_name);
    Py_VISIT(self->duration);
    Py_VISIT(self->clock);
    return 0;
}

static int
Timer_clear(TimerObject *self)
{
    Py_CLEAR(self->metric);
    Py_CLEAR(self->callback_name);
    Py_CLEAR(self->duration);
    Py_CLEAR(self->clock);
    return 0;
}

static void
Timer_dealloc(TimerObject *self)
{
    /* The type is static, so a heap subclass's subtype_dealloc owns the type's reference. */
    PyObject_GC_UnTrack(self);
    Timer_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Fails like the Python class reading an unset slot (after `del timer._metric`). */
static int
check_set(PyObject *field, const char *name)
{
    if (field == NULL) {
        PyErr_SetString(PyExc_AttributeError, name);
        return -1;
    }
    return 0;
}

static PyObject *
Timer_enter(TimerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (choose_clock(self) < 0 || read_timer_clock(self, &self->start) < 0) {
        return NULL;
    }
    self->started = 1;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
Timer_exit(TimerObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t nargs)
{
    double end, seconds;
    PyObject *duration, *metric, *name, *result;

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "__exit__ expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (!self->started) {
        PyErr_SetString(PyExc_AttributeError, "_start");
        return NULL;
    }
    if (read_timer_clock(self, &end) < 0) {
        return NULL;
    }
    seconds = end - self->start;
    if (seconds < 0.0) {  /* the clock is monotonic, but keep the contract explicit */
        seconds = 0.0;
    }
    duration = PyFloat_FromDouble(seconds);
    if (duration == NULL) {
        return NULL;
    }
    Py_INCREF(duration);
    Py_XSETREF(self->duration, duration);
    if (check_set(self->metric, "_metric") < 0 || check_set(self->callback_name, "_callback_name") < 0) {
        Py_DECREF(duration);
        return NULL;
    }
    /* Hold our own references: the callback may replace self->metric (or drop the timer). */
    metric = self->metric;
    name = self->callback_name;
    Py_INCREF(metric);
    Py_INCREF(name);
    if (PyUnicode_CheckExact(name)) {
        /* Calls the method without creating a bound method; slot 0 is scratch space for the callee. */
        PyObject *stack[3] = {NULL, metric, duration};
        result = PyObject_VectorcallMethod(name, stack + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    else {
        /* Rare: a str subclass or a wrong type; getattr() gives the same result or error as in Python. */
        PyObject *callback = PyObject_GetAttr(metric, name);
        result = callback == NULL ? NULL : PyObject_CallOneArg(callback, duration);
        Py_XDECREF(callback);
    }
    Py_DECREF(name);
    Py_DECREF(metric);
    Py_DECREF(duration);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;  /* never true: an exception in the block propagates */
}

static PyObject *
Timer_labels(TimerObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *labels, *child;

    if (check_set(self->metric, "_metric") < 0 || (labels = PyObject_GetAttrString(self->metric, "labels")) == NULL) {
        return NULL;
    }
    child = PyObject_Call(labels, args, kwds);
    Py_DECREF(labels);
    if (child == NULL) {
        return NULL;
    }
    Py_XSETREF(self->metric, child);
    Py_RETURN_NONE;
}

static PyObject *
Timer_new_timer(TimerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_set(self->metric, "_metric") < 0 || check_set(self->callback_name, "_callback_name") < 0) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs((PyObject *)Py_TYPE(self), self->metric, self->callback_name, NULL);
}

/* As a decorator: context_managers._wrap gives each call of the function a timer of its own (from
 * _new_timer), so concurrent calls do not share one clock.  Decorating is rare: import on use. */
static PyObject *
Timer_call(TimerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"f", NULL};
    PyObject *func, *module, *new_timer, *result;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:__call__", kwlist, &func)) {
        return NULL;
    }
    module = PyImport_ImportModule("pyrometer.context_managers");
    if (module == NULL) {
        return NULL;
    }
    new_timer = PyObject_GetAttrString((PyObject *)self, "_new_timer");
    result = new_timer == NULL ? NULL : PyObject_CallMethod(module, "_wrap", "OO", new_timer, func);
    Py_XDECREF(new_timer);
    Py_DECREF(module);
    return result;
}

static PyMethodDef Timer_methods[] = {
    {"__enter__", (PyCFunction)Timer_enter, METH_NOARGS, "Start the clock; return the timer."},
    {"__exit__", (PyCFunction)(void (*)(void))Timer_exit, METH_FASTCALL,
     "Stop the clock, set `duration` and report it to the metric."},
    {"labels", (PyCFunction)(void (*)(void))Timer_labels, METH_VARARGS | METH_KEYWORDS,
     "Report to the child with these label values."},
    {"_new_timer", (PyCFunction)Timer_new_timer, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Timer_members[] = {
    {"_metric", T_OBJECT_EX, offsetof(TimerObject, metric), 0, NULL},
    {"_callback_name", T_OBJECT_EX, offsetof(TimerObject, callback_name), 0, NULL},
    {"duration", T_OBJECT_EX, offsetof(TimerObject, duration), 0, "Seconds the last block took, or None."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TimerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    /* Named where users meet it: repr() and __module__ match the pure-Python class. */
    .tp_name = "pyrometer.context_managers.Timer",
    .tp_basicsize = sizeof(TimerObject),
    .tp_dealloc = (destructor)Timer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Measures a block or function and reports the seconds to ``metric.<callback_name>``.\n\n"
              "``labels()`` inside the block picks the child to report to, for label values\n"
              "known only once the work is done.",
    .tp_call = (ternaryfunc)Timer_call,
    .tp_traverse = (traverseproc)Timer_traverse,
    .tp_clear = (inquiry)Timer_clear,
    .tp_methods = Timer_methods,
    .tp_members = Timer_members,
    .tp_new = Timer_new,
    .tp_vectorcall = Timer_vectorcall,
};

/* bucket_key(magnitude, scale): the native-histogram bucket index ceil(log2(magnitude) * scale) when
 * that is certain, else None (within 1e-6 of an integer, or not finite: the caller's exact path).
 * _native_histogram.bucket_key is the reference; this is the same arithmetic on the same doubles
 * (libm log2 as math.log2 uses, one multiply, ceil, the int-to-double difference), so the two agree
 * bit for bit. */
static PyObject *
bucket_key(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    double magnitude, scale, x, key, gap;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "bucket_key expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    magnitude = PyFloat_AsDouble(args[0]);
    if (magnitude == -1.0 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();  /* an int beyond any double: the exact path decides */
        Py_RETURN_NONE;
    }
    scale = PyFloat_AsDouble(args[1]);
    if (scale == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(magnitude > 0.0) || !isfinite(magnitude)) {
        Py_RETURN_NONE;
    }
    x = log2(magnitude) * scale;
    if (!isfinite(x)) {
        Py_RETURN_NONE;
    }
    key = ceil(x);
    gap = key - x;
    if (!(gap > 1e-6 && gap < 0.999999)) {
        Py_RETURN_NONE;
    }
    return PyLong_FromDouble(key);
}

static PyMethodDef speedups_functions[] = {
    {"bucket_key", (PyCFunction)(void (*)(void))bucket_key, METH_FASTCALL,
     "The native-histogram bucket index of a positive magnitude at a scale of 2**schema, or None if uncertain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pyrometer._speedups",
    .m_doc = "Optional C versions of pyrometer hot paths; pure-Python equivalents always exist.",
    .m_size = -1,
    .m_methods = speedups_functions,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module;

    if (perf_counter_func == NULL) {
        PyObject *time_module = PyImport_ImportModule("time");
        if (time_module == NULL) {
            return NULL;
        }
        perf_counter_func = PyObject_GetAttrString(time_module, "perf_counter");
        Py_DECREF(time_module);
        if (perf_counter_func == NULL) {
            return NULL;
        }
    }
    if (default_timer_name == NULL && (default_timer_name = PyUnicode_InternFromString("default_timer")) == NULL) {
        return NULL;
    }
    if (context_managers_name == NULL
        && (context_managers_name = PyUnicode_InternFromString("pyrometer.context_managers")) == NULL) {
        return NULL;
    }
    if (PyType_Ready(&TimerType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, &TimerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
