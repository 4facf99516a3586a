/* pusher.points._speedups: the per-point loop of pusher/points/pointloop.py, compiled.
 *
 * PointLoop.run(readings, body, room) takes readings from an iterator and appends their lines
 * to a bytearray, recording each new point in the window's PointSet, exactly as
 * pusher.points.pointloop.PointLoop.run does. It works over the Python objects' own state: the
 * Encoder's series cache (tuple key -> series key) and field-key table (key -> (escaped
 * "key=", bit)), the PointSet's dict of exact points or its buckets of 8-byte words, and the
 * KeySets' table of field-key sets. It writes only what it can write exactly like the Python
 * encoder: anything else (a series or field key not cached yet, a value that is not an exact
 * str/int/float/bool, a non-finite float, an int beyond int64, a string with a line break,
 * a lone surrogate or too long, a point the window has, ...) is handed back to the caller
 * before any state was changed for it, and the Python code takes it from there. So the
 * bytes are the same whichever path a reading takes (tests/test_speedups.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_STRING_BYTES (64 * 1024 - 1) /* pusher.points.lineprotocol.MAX_STRING_BYTES */
#define BUCKET_MASK 4095                 /* pusher.points.collisions._BUCKETS - 1 */
#define MASK_OTHER (1LL << 62)           /* pusher.points.lineprotocol.MASK_OTHER */

static PyTypeObject *reading_type;  /* pusher.reading.Reading */
static Py_ssize_t slot_offset[5];    /* measurement, fields, tags, time, granularity */
static PyObject *to_timestamp;       /* pusher.points.lineprotocol.to_timestamp */
static PyObject *marker_end, *marker_full; /* pusher.points.pointloop.END and FULL */

static PyObject *import_attribute(const char *module, const char *name);

/* ---- a growable byte buffer ------------------------------------------------------------ */

typedef struct {
    char *data;
    Py_ssize_t size, alloc;
} Buffer;

static inline int
reserve(Buffer *b, Py_ssize_t more)
{
    if (b->size + more <= b->alloc)
        return 0;
    Py_ssize_t alloc = b->alloc ? b->alloc : 4096;
    while (alloc < b->size + more)
        alloc *= 2;
    char *data = PyMem_Realloc(b->data, alloc);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->alloc = alloc;
    return 0;
}

static inline int
put(Buffer *b, const char *text, Py_ssize_t size)
{
    if (reserve(b, size) < 0)
        return -1;
    memcpy(b->data + b->size, text, size);
    b->size += size;
    return 0;
}

static const char two_digits[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v into out (at least 21 bytes); returns their count. */
static inline int
digits(long long v, char *out)
{
    char tmp[24];
    int n = 24;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        tmp[--n] = two_digits[2 * r + 1];
        tmp[--n] = two_digits[2 * r];
    }
    if (u >= 10) {
        tmp[--n] = two_digits[2 * u + 1];
        tmp[--n] = two_digits[2 * u];
    }
    else
        tmp[--n] = (char)('0' + u);
    int k = 0;
    if (v < 0)
        out[k++] = '-';
    memcpy(out + k, tmp + n, 24 - n);
    return k + 24 - n;
}

/* ---- the loop object ---------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *encoder, *points, *keys_of, *granularity, *default_str;
    PyObject *series_cache, *field_keys, *key_sets, *precision;
    long long stamp;
    long long unit;      /* microseconds per timestamp unit; 0: nanoseconds */
    char stamp_text[24]; /* the window's timestamp, as written */
    int stamp_len;
    PyObject *last_time;      /* the last own time, and its stamp */
    long long last_stamp;
    PyObject *last_stamp_str; /* the last own stamp made a str (or NULL), and its value */
    long long last_str_for;
    Py_ssize_t readings, lines;
    /* The PointSet's current state, read at each run and after each points.count(). */
    PyObject *exact, *buckets, *ids;
    Py_ssize_t limit; /* new exact points before the window goes compact */
} PointLoop;

static int
loop_traverse(PointLoop *self, visitproc visit, void *arg)
{
    Py_VISIT(self->encoder);
    Py_VISIT(self->points);
    Py_VISIT(self->keys_of);
    Py_VISIT(self->series_cache);
    Py_VISIT(self->field_keys);
    Py_VISIT(self->key_sets);
    Py_VISIT(self->last_time);
    Py_VISIT(self->exact);
    Py_VISIT(self->buckets);
    Py_VISIT(self->ids);
    return 0;
}

static int
loop_clear(PointLoop *self)
{
    Py_CLEAR(self->encoder);
    Py_CLEAR(self->points);
    Py_CLEAR(self->keys_of);
    Py_CLEAR(self->granularity);
    Py_CLEAR(self->default_str);
    Py_CLEAR(self->series_cache);
    Py_CLEAR(self->field_keys);
    Py_CLEAR(self->key_sets);
    Py_CLEAR(self->precision);
    Py_CLEAR(self->last_time);
    Py_CLEAR(self->last_stamp_str);
    Py_CLEAR(self->exact);
    Py_CLEAR(self->buckets);
    Py_CLEAR(self->ids);
    return 0;
}

static void
loop_dealloc(PointLoop *self)
{
    PyObject_GC_UnTrack(self);
    loop_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* An attribute that must be of `type` (NULL: any); a new reference or NULL with an error. */
static PyObject *
attribute(PyObject *owner, const char *name, PyTypeObject *type)
{
    PyObject *value = PyObject_GetAttrString(owner, name);
    if (value != NULL && type != NULL && !Py_IS_TYPE(value, type)) {
        PyErr_Format(PyExc_TypeError, "%s must be a %s", name, type->tp_name);
        Py_CLEAR(value);
    }
    return value;
}

/* Read the PointSet's dict of exact points (or None), its buckets and ids. */
static int
read_points(PointLoop *self)
{
    Py_CLEAR(self->exact);
    Py_CLEAR(self->buckets);
    Py_CLEAR(self->ids);
    self->exact = attribute(self->points, "exact", NULL);
    if (self->exact == NULL)
        return -1;
    if (self->exact == Py_None) {
        Py_CLEAR(self->exact);
        self->buckets = attribute(self->points, "_buckets", &PyList_Type);
        self->ids = attribute(self->points, "_ids", &PyDict_Type);
        if (self->buckets == NULL || self->ids == NULL)
            return -1;
        if (PyList_GET_SIZE(self->buckets) != BUCKET_MASK + 1) {
            PyErr_SetString(PyExc_ValueError, "a compact PointSet has 4096 buckets");
            return -1;
        }
        return 0;
    }
    if (!PyDict_CheckExact(self->exact)) {
        PyErr_SetString(PyExc_TypeError, "PointSet.exact must be a dict or None");
        return -1;
    }
    Py_ssize_t count = PyObject_Length(self->points);
    PyObject *most = attribute(self->points, "exact_points", &PyLong_Type);
    if (count < 0 || most == NULL) {
        Py_XDECREF(most);
        return -1;
    }
    self->limit = PyLong_AsSsize_t(most) - count;
    Py_DECREF(most);
    return self->limit == -1 && PyErr_Occurred() ? -1 : 0;
}

static int
loop_init(PointLoop *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"encoder", "points", "keys_of", "granularity", "stamp", NULL};
    PyObject *encoder, *points, *keys_of, *granularity;
    long long stamp;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOUL", names, &encoder, &points, &keys_of,
                                     &granularity, &stamp))
        return -1;
    if (marker_end == NULL) {  /* pusher.points.pointloop has been imported by now */
        marker_end = import_attribute("pusher.points.pointloop", "END");
        marker_full = import_attribute("pusher.points.pointloop", "FULL");
        if (marker_end == NULL || marker_full == NULL) {
            Py_CLEAR(marker_end);
            Py_CLEAR(marker_full);
            return -1;
        }
    }
    loop_clear(self);
    self->unit = -1;  /* set last: run() refuses an object whose __init__ did not complete */
    self->encoder = Py_NewRef(encoder);
    self->points = Py_NewRef(points);
    self->keys_of = Py_NewRef(keys_of);
    self->granularity = Py_NewRef(granularity);
    self->stamp = stamp;
    self->stamp_len = digits(stamp, self->stamp_text);
    self->default_str = PyUnicode_FromStringAndSize(self->stamp_text, self->stamp_len);
    self->series_cache = attribute(encoder, "_series", &PyDict_Type);
    self->field_keys = attribute(encoder, "_field_keys", &PyDict_Type);
    self->key_sets = attribute(keys_of, "_sets", &PyDict_Type);
    self->precision = attribute(encoder, "precision", &PyUnicode_Type);
    if (self->default_str == NULL || self->series_cache == NULL || self->field_keys == NULL
            || self->key_sets == NULL || self->precision == NULL)
        return -1;
    const char *precision = PyUnicode_AsUTF8(self->precision);
    if (precision == NULL)
        return -1;
    long long unit;
    if (strcmp(precision, "s") == 0)
        unit = 1000000;
    else if (strcmp(precision, "ms") == 0)
        unit = 1000;
    else if (strcmp(precision, "us") == 0)
        unit = 1;
    else if (strcmp(precision, "ns") == 0)
        unit = 0;
    else {
        PyErr_Format(PyExc_ValueError, "unknown precision %R", self->precision);
        return -1;
    }
    self->readings = self->lines = 0;
    self->unit = unit;
    return 0;
}

/* ---- one reading --------------------------------------------------------------------------- */

/* The outcome of writing one reading: written, handed back, or an error. */
enum { WRITTEN = 0, HAND_BACK = 1, FAILED = -1 };

static inline PyObject *
slot(PyObject *reading, int i)
{
    return *(PyObject **)((char *)reading + slot_offset[i]);
}

/* Python's hash((series, stamp)) >> 8 hashed the same way: the point's fingerprint. */
static int
point_hash(PyObject *series, PyObject *stamp, Py_hash_t *hash)
{
    PyObject *pair = PyTuple_Pack(2, series, stamp);
    if (pair == NULL)
        return -1;
    *hash = PyObject_Hash(pair);
    Py_DECREF(pair);
    return *hash == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Days from 1970-01-01 to the civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The integer timestamp of `moment`, as pusher.points.lineprotocol.to_timestamp gives it. */
static int
own_stamp(PointLoop *self, PyObject *moment, long long *stamp)
{
    if (moment == self->last_time) {
        *stamp = self->last_stamp;
        return WRITTEN;
    }
    PyObject *tz = PyDateTime_CheckExact(moment) ? PyDateTime_DATE_GET_TZINFO(moment) : NULL;
    if (tz == Py_None || tz == PyDateTime_TimeZone_UTC) {
        long long days = days_from_civil(PyDateTime_GET_YEAR(moment),
                                         PyDateTime_GET_MONTH(moment),
                                         PyDateTime_GET_DAY(moment));
        long long micros = ((days * 24 + PyDateTime_DATE_GET_HOUR(moment)) * 60
                            + PyDateTime_DATE_GET_MINUTE(moment)) * 60
                           + PyDateTime_DATE_GET_SECOND(moment);
        micros = micros * 1000000 + PyDateTime_DATE_GET_MICROSECOND(moment);
        if (self->unit)
            *stamp = floor_div(micros, self->unit);
        else if (__builtin_mul_overflow(micros, 1000LL, stamp))
            return HAND_BACK;
    }
    else {  /* another time zone or type: Python's own conversion */
        PyObject *value = PyObject_CallFunctionObjArgs(to_timestamp, moment, self->precision,
                                                       NULL);
        if (value == NULL) {
            PyErr_Clear();  /* the Python encoder raises it again */
            return HAND_BACK;
        }
        int overflow;
        *stamp = PyLong_Check(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : 0;
        int fits = PyLong_Check(value) && !overflow && !PyErr_Occurred();
        Py_DECREF(value);
        if (!fits) {
            PyErr_Clear();
            return HAND_BACK;
        }
    }
    Py_XSETREF(self->last_time, Py_NewRef(moment));
    self->last_stamp = *stamp;
    return WRITTEN;
}

/* The series key of a reading from the encoder's cache (a new reference), or NULL: handed
 * back (not cached yet, or not plain strings) unless an error is set. Only exact str objects
 * are hashed and compared here, so no Python code runs. */
static PyObject *
cached_series(PointLoop *self, PyObject *measurement, PyObject *gran, PyObject *tags)
{
    Py_ssize_t n = 0;
    if (tags != Py_None) {
        if (!PyDict_CheckExact(tags))
            return NULL;
        n = PyDict_GET_SIZE(tags);
    }
    /* (measurement, granularity, *keys, *values): the key pusher.points.lineprotocol builds. */
    PyObject *key = PyTuple_New(2 + 2 * n);
    if (key == NULL)
        return NULL;
    PyTuple_SET_ITEM(key, 0, Py_NewRef(measurement));
    PyTuple_SET_ITEM(key, 1, Py_NewRef(gran));
    Py_ssize_t pos = 0, i = 0;
    PyObject *tag, *value;
    while (i < n && PyDict_Next(tags, &pos, &tag, &value)) {
        if (!PyUnicode_CheckExact(tag) || !PyUnicode_CheckExact(value)) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, 2 + i, Py_NewRef(tag));
        PyTuple_SET_ITEM(key, 2 + n + i, Py_NewRef(value));
        i++;
    }
    PyObject *series = i == n ? PyDict_GetItemWithError(self->series_cache, key) : NULL;
    Py_DECREF(key);
    if (series == NULL || !PyUnicode_CheckExact(series))
        return NULL;
    return Py_NewRef(series);
}

static const double powers_of_ten[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
                                       1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

/* repr(x) for a float of few decimals, as Python writes it, without David Gay's dtoa.
 *
 * Python's repr is the shortest string that reads back as x, in fixed notation for
 * 1e-4 <= |x| < 1e16. Take the fewest decimals k for which an integer m < 1e15 gives
 * m / 10**k == x: that division of two exact doubles is rounded as reading "m e-k" is, so
 * the string reads back as x; no string with fewer digits does (it would have fewer
 * decimals); and m is the only one with k decimals (m < 1e15: neighbours are more than an
 * ulp of x apart). Returns the length written to out (at least 40 bytes), or 0 for "use
 * Python's repr" (other magnitudes, more digits). tests/test_speedups.py compares the two. */
static int
short_repr(double x, char *out)
{
    double a = fabs(x);
    if (!(a == 0.0 || (a >= 1e-4 && a < 1e15)))
        return 0;
    int k = 0;
    double m = 0.0;
    for (; k <= 18; k++) {
        double y = a * powers_of_ten[k];
        if (y >= 1e15)
            return 0;
        m = nearbyint(y);
        if (m / powers_of_ten[k] == a)
            break;
    }
    if (k > 18)
        return 0;
    char text[24];
    int n = digits((long long)m, text);
    int at = 0;
    if (signbit(x))
        out[at++] = '-';
    if (n <= k) {  /* 0.000ddd */
        out[at++] = '0';
        out[at++] = '.';
        for (int i = n; i < k; i++)
            out[at++] = '0';
        memcpy(out + at, text, n);
        return at + n;
    }
    memcpy(out + at, text, n - k);
    at += n - k;
    out[at++] = '.';
    if (k == 0) {
        out[at++] = '0';
        return at;
    }
    memcpy(out + at, text + n - k, k);
    return at + k;
}

/* Append one field value as the Python encoder writes it; HAND_BACK when it would not. */
static int
put_value(Buffer *out, PyObject *value)
{
    char text[32];
    if (PyFloat_CheckExact(value)) {
        double x = PyFloat_AS_DOUBLE(value);
        if (!isfinite(x))
            return HAND_BACK;
        char quick[48];
        int n = short_repr(x, quick);
        if (n)
            return put(out, quick, n) ? FAILED : WRITTEN;
        char *repr = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (repr == NULL)
            return FAILED;
        int failed = put(out, repr, (Py_ssize_t)strlen(repr));
        PyMem_Free(repr);
        return failed ? FAILED : WRITTEN;
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow)
            return HAND_BACK;
        if (v == -1 && PyErr_Occurred())
            return FAILED;
        int n = digits(v, text);
        text[n++] = 'i';
        return put(out, text, n) ? FAILED : WRITTEN;
    }
    if (PyBool_Check(value))
        return put(out, value == Py_True ? "true" : "false", value == Py_True ? 4 : 5)
            ? FAILED : WRITTEN;
    if (!PyUnicode_CheckExact(value))
        return HAND_BACK;
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == NULL) {  /* a lone surrogate: refused by the Python encoder */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return FAILED;
        PyErr_Clear();
        return HAND_BACK;
    }
    if (size > MAX_STRING_BYTES || memchr(utf8, '\n', size) || memchr(utf8, '\r', size))
        return HAND_BACK;
    if (reserve(out, 2 * size + 2) < 0)
        return FAILED;
    char *at = out->data + out->size;
    *at++ = '"';
    for (Py_ssize_t i = 0; i < size; i++) {
        if (utf8[i] == '"' || utf8[i] == '\\')  /* pusher.points.lineprotocol._STRING_ESCAPES */
            *at++ = '\\';
        *at++ = utf8[i];
    }
    *at++ = '"';
    out->size = at - out->data;
    return WRITTEN;
}

/* Append one field: its cached "key=" prefix (entry: (prefix, bit)) and value. */
static int
put_field(Buffer *out, PyObject *entry, PyObject *value, long long *mask, int first)
{
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2
            || !PyLong_CheckExact(PyTuple_GET_ITEM(entry, 1)))
        return HAND_BACK;
    Py_ssize_t size;
    const char *prefix = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(entry, 0), &size);
    long long bit = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 1));
    if (prefix == NULL || (bit == -1 && PyErr_Occurred()))
        return FAILED;
    *mask |= bit;
    if ((!first && put(out, ",", 1)) || put(out, prefix, size))
        return FAILED;
    return put_value(out, value);
}

/* Append the fields; their mask of field-key bits goes to *mask. The key, value and entry
 * are held while they are used: looking a key up may run a stored key's __eq__ (a str
 * subclass), which could change the dicts. */
static int
put_fields(PointLoop *self, Buffer *out, PyObject *fields, long long *mask)
{
    if (!PyDict_CheckExact(fields) || PyDict_GET_SIZE(fields) == 0)
        return HAND_BACK;
    Py_ssize_t pos = 0;
    int first = 1;
    PyObject *key, *value;
    *mask = 0;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return HAND_BACK;
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *entry = Py_XNewRef(PyDict_GetItemWithError(self->field_keys, key));
        int done = entry != NULL ? put_field(out, entry, value, mask, first)
            : PyErr_Occurred() ? FAILED : HAND_BACK;  /* a key not seen yet */
        Py_XDECREF(entry);
        Py_DECREF(value);
        Py_DECREF(key);
        if (done != WRITTEN)
            return done;
        first = 0;
    }
    return WRITTEN;
}

/* The stamp as a str (for hashing an own-time point); borrowed. */
static PyObject *
stamp_str(PointLoop *self, long long stamp)
{
    if (stamp == self->stamp)
        return self->default_str;
    if (self->last_stamp_str == NULL || stamp != self->last_str_for) {
        char text[24];
        Py_XSETREF(self->last_stamp_str,
                   PyUnicode_FromStringAndSize(text, digits(stamp, text)));
        self->last_str_for = stamp;
    }
    return self->last_stamp_str;
}

/* The window's compact store has this fingerprint's point: its word's offset, or -1. */
static Py_ssize_t
find_word(PyObject *bucket, Py_hash_t print)
{
    const unsigned char *data = (const unsigned char *)PyByteArray_AS_STRING(bucket);
    Py_ssize_t size = PyByteArray_GET_SIZE(bucket);
    uint64_t want = (uint64_t)print & 0x00FFFFFFFFFFFFFFULL;
    for (Py_ssize_t at = 0; at + 8 <= size; at += 8) {
        uint64_t word;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&word, data + at, 8);
#else
        word = 0;
        for (int i = 7; i >= 0; i--)  /* the words are little-endian (int.to_bytes) */
            word = (word << 8) | data[at + i];
#endif
        if ((word & 0x00FFFFFFFFFFFFFFULL) == want)
            return at;
    }
    return -1;
}

/* Record a new point (or hand the reading back: the window has it, or a set is new). */
static int
record_point(PointLoop *self, PyObject *series, long long stamp, PyObject *keys,
             Py_ssize_t *fresh)
{
    Py_hash_t hash;
    if (self->exact != NULL) {
        PyObject *point;
        if (stamp == self->stamp)
            point = Py_NewRef(series);
        else {
            if (point_hash(series, stamp_str(self, stamp), &hash) < 0)
                return FAILED;
            point = PyLong_FromSsize_t(hash);
            if (point == NULL)
                return FAILED;
        }
        /* One lookup: the dict grows when the point is new, else it holds it already. */
        Py_ssize_t before = PyDict_GET_SIZE(self->exact);
        PyObject *held = PyDict_SetDefault(self->exact, point, keys);
        Py_DECREF(point);
        if (held == NULL)
            return FAILED;
        if (PyDict_GET_SIZE(self->exact) == before)
            return HAND_BACK;
        (*fresh)++;
        return WRITTEN;
    }
    if (point_hash(series, stamp_str(self, stamp), &hash) < 0)
        return FAILED;
    Py_hash_t print = hash >> 8;  /* arithmetic, as Python's >> */
    if (PyList_GET_SIZE(self->buckets) != BUCKET_MASK + 1)
        return HAND_BACK;  /* changed by the source's code meanwhile: Python decides */
    PyObject *bucket = PyList_GET_ITEM(self->buckets, (Py_ssize_t)((uint64_t)print & BUCKET_MASK));
    if (!PyByteArray_CheckExact(bucket))
        return HAND_BACK;
    if (find_word(bucket, print) >= 0)
        return HAND_BACK;
    PyObject *ident = PyDict_GetItemWithError(self->ids, keys);
    if (ident == NULL)
        return PyErr_Occurred() ? FAILED : HAND_BACK;  /* a new set: interned by Python */
    long id = PyLong_AsLong(ident);
    if (id < 1 || id >= 0xFF)
        return PyErr_Occurred() ? FAILED : HAND_BACK;
    Py_ssize_t size = PyByteArray_GET_SIZE(bucket);
    if (PyByteArray_Resize(bucket, size + 8) < 0)
        return FAILED;
    unsigned char *word = (unsigned char *)PyByteArray_AS_STRING(bucket) + size;
    for (int i = 0; i < 7; i++)
        word[i] = (unsigned char)(((uint64_t)print >> (8 * i)) & 0xFF);
    word[7] = (unsigned char)id;
    (*fresh)++;
    return WRITTEN;
}

/* The field-key set of a mask from the KeySets table (borrowed), or NULL: handed back. */
static PyObject *
key_set(PointLoop *self, long long mask)
{
    if (mask & MASK_OTHER)
        return NULL;
    PyObject *number = PyLong_FromLongLong(mask);
    if (number == NULL)
        return NULL;
    PyObject *keys = PyDict_GetItemWithError(self->key_sets, number);
    Py_DECREF(number);
    return keys;
}

typedef struct {
    long long mask;
    PyObject *keys; /* the KeySets' set for mask (a reference of its own) */
    Py_ssize_t fresh;
} RunState;

/* The line of a reading whose series and stamp are known, and its point recorded. */
static int
write_line(PointLoop *self, PyObject *series, long long stamp, PyObject *fields, Buffer *out,
           RunState *state)
{
    Py_ssize_t mark = out->size, size;
    const char *text = PyUnicode_AsUTF8AndSize(series, &size);
    if (text == NULL || put(out, text, size) || put(out, " ", 1))
        return FAILED;
    long long mask;
    int done = put_fields(self, out, fields, &mask);
    if (done == WRITTEN && mask != state->mask) {
        PyObject *keys = key_set(self, mask);
        Py_XSETREF(state->keys, Py_XNewRef(keys));
        state->mask = keys ? mask : -1;
        if (keys == NULL)
            done = PyErr_Occurred() ? FAILED : HAND_BACK;
    }
    if (done == WRITTEN)
        done = record_point(self, series, stamp, state->keys, &state->fresh);
    if (done != WRITTEN) {
        out->size = mark;
        return done;
    }
    char digits_text[24];
    const char *stamp_text = self->stamp_text;
    int stamp_len = self->stamp_len;
    if (stamp != self->stamp) {
        stamp_len = digits(stamp, digits_text);
        stamp_text = digits_text;
    }
    if (put(out, " ", 1) || put(out, stamp_text, stamp_len) || put(out, "\n", 1))
        return FAILED;
    return WRITTEN;
}

/* One reading into `out`: WRITTEN, HAND_BACK (out as it was) or FAILED. */
static int
write_reading(PointLoop *self, PyObject *reading, Buffer *out, RunState *state)
{
    /* Its attributes are held while they are used: a time zone's Python code or a str
     * subclass's __eq__ could replace them (object.__setattr__) and free the old ones. */
    PyObject *part[5];
    for (int i = 0; i < 5; i++) {
        if (slot(reading, i) == NULL) {  /* a deleted attribute: Python raises AttributeError */
            while (i--)
                Py_DECREF(part[i]);
            return HAND_BACK;
        }
        part[i] = Py_NewRef(slot(reading, i));
    }
    PyObject *measurement = part[0], *fields = part[1], *tags = part[2], *moment = part[3],
             *gran = part[4];
    int done = HAND_BACK;
    /* The time first: converting one in another time zone runs Python code. */
    long long stamp = self->stamp;
    if (moment != Py_None && own_stamp(self, moment, &stamp) != WRITTEN)
        goto end;
    if (gran == Py_None || (PyUnicode_CheckExact(gran) && PyUnicode_GET_LENGTH(gran) == 0))
        gran = self->granularity;
    else if (!PyUnicode_CheckExact(gran) || PyUnicode_Compare(gran, self->granularity) != 0) {
        done = PyErr_Occurred() ? FAILED : HAND_BACK;
        goto end;
    }
    if (!PyUnicode_CheckExact(measurement))
        goto end;
    PyObject *series = cached_series(self, measurement, gran, tags);
    if (series == NULL) {
        done = PyErr_Occurred() ? FAILED : HAND_BACK;
        goto end;
    }
    done = write_line(self, series, stamp, fields, out, state);
    Py_DECREF(series);
end:
    for (int i = 0; i < 5; i++)
        Py_DECREF(part[i]);
    return done;
}

/* ---- run ------------------------------------------------------------------------------------ */

/* Add the run's new points to the PointSet's count (it may go compact), then re-read it. */
static int
count_points(PointLoop *self, RunState *state)
{
    if (!state->fresh)
        return 0;
    PyObject *done = PyObject_CallMethod(self->points, "count", "n", state->fresh);
    state->fresh = 0;
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    return read_points(self);
}

static PyObject *
loop_run(PointLoop *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyIter_Check(args[0]) || !PyByteArray_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "run(readings: iterator, body: bytearray, room: int)");
        return NULL;
    }
    if (self->series_cache == NULL || self->precision == NULL || self->unit < 0) {
        /* made with __new__ alone, or its __init__ failed: nothing to run over */
        PyErr_SetString(PyExc_RuntimeError, "PointLoop.__init__ did not complete");
        return NULL;
    }
    PyObject *iterator = args[0], *body = args[1];
    Py_ssize_t room = PyLong_AsSsize_t(args[2]);
    if (room == -1 && PyErr_Occurred())
        return NULL;
    if (read_points(self) < 0)
        return NULL;
    RunState state = {-1, NULL, 0};
    Buffer out = {NULL, 0, 0};
    PyObject *result = NULL;
    Py_ssize_t lines = 0;
    while (1) {
        if (lines >= room) {
            result = Py_NewRef(marker_full);
            break;
        }
        PyObject *reading = PyIter_Next(iterator);
        if (reading == NULL) {
            if (!PyErr_Occurred())
                result = Py_NewRef(marker_end);
            break;
        }
        int done = Py_IS_TYPE(reading, reading_type)
            ? write_reading(self, reading, &out, &state) : HAND_BACK;
        if (done != WRITTEN) {
            if (done == HAND_BACK)
                result = reading;
            else
                Py_DECREF(reading);
            break;
        }
        Py_DECREF(reading);
        lines++;
        self->readings++;
        if (self->exact != NULL && state.fresh > self->limit) {
            if (count_points(self, &state) < 0)  /* the window is big: on to compact */
                break;
            state.mask = -1;
        }
    }
    /* Whatever ended the run (an error from the source included), what was written stays. */
    PyObject *error_type, *error, *traceback;
    PyErr_Fetch(&error_type, &error, &traceback);
    int failed = 0;
    Py_ssize_t size = PyByteArray_GET_SIZE(body);
    if (out.size && PyByteArray_Resize(body, size + out.size) == 0)
        memcpy(PyByteArray_AS_STRING(body) + size, out.data, out.size);
    else if (out.size)
        failed = 1;
    PyMem_Free(out.data);
    Py_XDECREF(state.keys);
    self->lines = failed ? 0 : lines;
    if (count_points(self, &state) < 0)
        failed = 1;
    if (error_type != NULL) {
        PyErr_Clear();
        PyErr_Restore(error_type, error, traceback);
    }
    if (error_type != NULL || failed) {
        Py_XDECREF(result);
        return NULL;
    }
    return result;
}

static PyMethodDef loop_methods[] = {
    {"run", (PyCFunction)(void (*)(void))loop_run, METH_FASTCALL,
     "run(readings, body, room): append up to `room` lines to `body`; returns END, FULL "
     "or a reading to hand back (pusher.points.pointloop.PointLoop.run)."},
    {NULL},
};

static PyMemberDef loop_members[] = {
    {"readings", T_PYSSIZET, offsetof(PointLoop, readings), 0, "readings taken"},
    {"lines", T_PYSSIZET, offsetof(PointLoop, lines), 0, "lines the last run appended"},
    {NULL},
};

static PyTypeObject PointLoopType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pusher.points._speedups.PointLoop",
    .tp_doc = "One window's readings into lines (pusher.points.pointloop.PointLoop, compiled).",
    .tp_basicsize = sizeof(PointLoop),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)loop_init,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_traverse = (traverseproc)loop_traverse,
    .tp_clear = (inquiry)loop_clear,
    .tp_methods = loop_methods,
    .tp_members = loop_members,
};

/* ---- the module ---------------------------------------------------------------------------- */

static PyObject *
import_attribute(const char *module, const char *name)
{
    PyObject *found = PyImport_ImportModule(module);
    if (found == NULL)
        return NULL;
    PyObject *value = PyObject_GetAttrString(found, name);
    Py_DECREF(found);
    return value;
}

/* The offsets of Reading's slots: the loop reads them directly, as the slot descriptors do. */
static int
find_slots(void)
{
    static const char *names[] = {"measurement", "fields", "tags", "time", "granularity"};
    for (int i = 0; i < 5; i++) {
        PyObject *descr = PyObject_GetAttrString((PyObject *)reading_type, names[i]);
        if (descr == NULL)
            return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
            && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok)
            slot_offset[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "Reading.%s is not a slot", names[i]);
            return -1;
        }
    }
    return 0;
}

static int
speedups_exec(PyObject *module)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return -1;
    reading_type = (PyTypeObject *)import_attribute("pusher.reading", "Reading");
    to_timestamp = import_attribute("pusher.points.lineprotocol", "to_timestamp");
    if (reading_type == NULL || !PyType_Check(reading_type)
            || to_timestamp == NULL || find_slots() < 0)
        return -1;
    if (PyType_Ready(&PointLoopType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "PointLoop", (PyObject *)&PointLoopType);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pusher.points._speedups",
    .m_doc = "The per-point loop of pusher.points.pointloop, compiled (optional).",
    .m_size = 0,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
