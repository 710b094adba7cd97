/* frugalnn C API: load a compiled model (.fnn, written by the Python package's frugalnn.save or
 * `frugalnn convert`) and run it on the caller's buffers. C99; no C++ types.
 *
 * Typical use:
 *
 *     frugalnn_model* model = NULL;
 *     if (frugalnn_model_load_file("net.fnn", 0, &model) != FRUGALNN_OK) {
 *       fprintf(stderr, "%s\n", frugalnn_model_error(model));  // NULL model: a fixed message
 *       frugalnn_model_free(model);
 *       return 1;
 *     }
 *     frugalnn_session* session = NULL;
 *     if (frugalnn_session_create(model, 8, 1, 0, &session) != FRUGALNN_OK) { ... }
 *     const void* in[1] = {x};  size_t in_bytes[1] = {sizeof x};
 *     void* out[1] = {y};       size_t out_bytes[1] = {sizeof y};
 *     if (frugalnn_session_run(session, 1, 1, in, in_bytes, 1, out, out_bytes) != FRUGALNN_OK) {
 *       fprintf(stderr, "%s\n", frugalnn_session_error(session));
 *     }
 *     frugalnn_session_free(session);
 *     frugalnn_model_free(model);
 *
 * Errors. Every function that can fail returns a frugalnn_status; FRUGALNN_OK is 0. Loading
 * and every session call leave a message saying what went wrong in their object
 * (frugalnn_model_error, frugalnn_session_error); the model's queries, which keep a loaded
 * model immutable, fail only for a NULL pointer or an index out of range, without one. Creation functions follow sqlite3_open: *out receives an object
 * even when loading or planning fails, holding the message, and must be freed either way; it
 * is NULL only when the object itself could not be allocated or `out` is NULL. No exception,
 * abort() or exit() crosses this boundary: bad arguments (NULL pointers, wrong counts or
 * buffer sizes, a batch above max_batch), files that are not valid .fnn files and exhausted
 * memory all come back as a status.
 *
 * Threads. A model is immutable once loaded: every function taking a const frugalnn_model* may
 * be called from any number of threads at once, and any number of sessions may share one
 * model (and its weights). frugalnn_session_run may be called on one session from several
 * threads: runs take turns on the session's arena, each gives the result a lone run would,
 * bit for bit. A session's error message is the last one of any thread: when threads share a
 * session, rely on the status codes, or give each thread its own session. Creating and freeing
 * an object must not race with other calls on that same object. Work inside a run is split
 * over `num_threads` threads for convolution, pooling and element-wise steps, and over the
 * library's process-wide thread pool (one thread per hardware thread) for dense GEMMs.
 *
 * Memory. A session plans its working memory (the arena) once, for max_batch samples, and a
 * run allocates nothing. A model loaded from a path is mapped by default (the weights stay in
 * the page cache, shared between processes; do not truncate the file while it is mapped) or
 * read into memory with FRUGALNN_LOAD_COPY; a model loaded from a buffer copies it. A session
 * keeps what it needs of its model alive: the model may be freed before its sessions.
 *
 * Kernels are picked once per process for the best ISA level the CPU has; FRUGALNN_ISA=scalar
 * |avx2|avx512|avx512vnni forces a lower one, as in Python (a level the CPU lacks, or a name
 * that is not a level, is ignored here).
 */
#ifndef FRUGALNN_H_
#define FRUGALNN_H_

#include <stddef.h>
#include <stdint.h>

/* The library's version (the Python package's), and the ABI version: it changes whenever a
 * function's signature, a struct's layout or an enum's values change, and is the shared
 * library's SONAME version (libfrugalnn.so.1). */
#define FRUGALNN_VERSION_MAJOR 0
#define FRUGALNN_VERSION_MINOR 1
#define FRUGALNN_VERSION_PATCH 0
#define FRUGALNN_ABI_VERSION 1

#if defined(_WIN32)
#if defined(FRUGALNN_BUILDING)
#define FRUGALNN_API __declspec(dllexport)
#elif defined(FRUGALNN_STATIC)
#define FRUGALNN_API
#else
#define FRUGALNN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define FRUGALNN_API __attribute__((visibility("default")))
#else
#define FRUGALNN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum frugalnn_status {
  FRUGALNN_OK = 0,
  /* A NULL pointer, an index out of range, a wrong number of buffers, a buffer of the wrong
   * size or alignment, a batch of 0 or above max_batch, a thread count of 0 or above 1024. */
  FRUGALNN_INVALID_ARGUMENT = 1,
  /* The bytes are not a valid .fnn file: truncated, corrupted, another format version. */
  FRUGALNN_FORMAT_ERROR = 2,
  /* The operating system refused: no such file, permission denied, I/O error. */
  FRUGALNN_IO_ERROR = 3,
  /* Memory could not be allocated, or the session's arena would pass its memory budget. */
  FRUGALNN_OUT_OF_MEMORY = 4,
  /* The runtime failed a check of its own (a bug: please report the message). */
  FRUGALNN_INTERNAL_ERROR = 5
} frugalnn_status;

/* Element types of inputs and outputs. Outputs are always FRUGALNN_FLOAT32; an input may be
 * uint8 or int8 (real value = scale * (q - zero_point)), as the model was converted. */
typedef enum frugalnn_dtype {
  FRUGALNN_FLOAT32 = 0,
  FRUGALNN_UINT8 = 1,
  FRUGALNN_INT8 = 2
} frugalnn_dtype;

typedef struct frugalnn_model frugalnn_model;
typedef struct frugalnn_session frugalnn_session;

/* An input or output of a model. Pointers are owned by the model and live as long as it. */
typedef struct frugalnn_tensor_info {
  const char* name;
  frugalnn_dtype dtype;
  size_t rank;           /* dims per sample, without the batch dimension */
  const uint64_t* dims;  /* NCHW for images: (channels, height, width) */
  size_t sample_elems;   /* product of dims */
  size_t sample_bytes;   /* sample_elems * element size */
  float scale;           /* quantized inputs; 1 and 0 for float32 */
  int32_t zero_point;
} frugalnn_tensor_info;

/* "0.1.0": the library's version, which may differ from the header's FRUGALNN_VERSION_*. */
FRUGALNN_API const char* frugalnn_version(void);
/* The library's FRUGALNN_ABI_VERSION: a program compiled against another one must not use it. */
FRUGALNN_API int frugalnn_abi_version(void);
/* A fixed description of a status ("invalid argument", ...); never NULL. */
FRUGALNN_API const char* frugalnn_status_string(frugalnn_status status);

/* ---- Models ---- */

/* frugalnn_model_load_file flags: read the file into memory instead of mapping it. */
#define FRUGALNN_LOAD_COPY 1u

/* Loads a .fnn file. flags: 0 or FRUGALNN_LOAD_COPY. See "Errors" above for *out. */
FRUGALNN_API frugalnn_status frugalnn_model_load_file(const char* path, unsigned flags,
                                                     frugalnn_model** out);
/* Loads a .fnn file from memory: `size` bytes at `data`, copied (the caller may free them as
 * soon as this returns). */
FRUGALNN_API frugalnn_status frugalnn_model_load_buffer(const void* data, size_t size,
                                                       frugalnn_model** out);
/* The message of the failed load, or "" when the model loaded. Lives as long as the model;
 * for a NULL model, a fixed message. */
FRUGALNN_API const char* frugalnn_model_error(const frugalnn_model* model);
/* Counts are 0 for a NULL model or one that failed to load. */
FRUGALNN_API size_t frugalnn_model_input_count(const frugalnn_model* model);
FRUGALNN_API size_t frugalnn_model_output_count(const frugalnn_model* model);
FRUGALNN_API frugalnn_status frugalnn_model_input(const frugalnn_model* model, size_t index,
                                                 frugalnn_tensor_info* info);
FRUGALNN_API frugalnn_status frugalnn_model_output(const frugalnn_model* model, size_t index,
                                                  frugalnn_tensor_info* info);
/* Bytes of packed weights, shared by every session of the model (0 for a NULL model). */
FRUGALNN_API size_t frugalnn_model_weight_bytes(const frugalnn_model* model);
/* Frees a model (NULL: nothing). Its sessions stay valid. */
FRUGALNN_API void frugalnn_model_free(frugalnn_model* model);

/* ---- Sessions ---- */

/* Plans a session for batches of 1..max_batch samples. num_threads: 1..1024 threads a run
 * splits its work over. memory_budget: the most bytes the arena may take, 0 for no limit; a
 * larger plan fails with FRUGALNN_OUT_OF_MEMORY, and the message names the largest max_batch
 * that fits. See "Errors" above for *out. */
FRUGALNN_API frugalnn_status frugalnn_session_create(const frugalnn_model* model, size_t max_batch,
                                                    size_t num_threads, size_t memory_budget,
                                                    frugalnn_session** out);
/* Runs one batch. inputs[i] holds batch * info.sample_bytes bytes of input i (batch-major,
 * C order, of the input's dtype), and input_bytes[i] says how many the buffer has; likewise
 * outputs[i] receives batch * sample_elems floats and output_bytes[i] is its size. Sizes must
 * match exactly; float buffers must be 4-byte aligned. num_inputs / num_outputs must be the
 * model's counts. Allocates nothing. On failure the outputs' contents are unspecified. */
FRUGALNN_API frugalnn_status frugalnn_session_run(frugalnn_session* session, size_t batch,
                                                 size_t num_inputs, const void* const* inputs,
                                                 const size_t* input_bytes, size_t num_outputs,
                                                 void* const* outputs, const size_t* output_bytes);
/* The message of the last failed call on this session, "" if none; for a NULL session, a fixed
 * message. The pointer lives as long as the session; the text changes with the next failure. */
FRUGALNN_API const char* frugalnn_session_error(const frugalnn_session* session);
/* The session's max_batch, and the bytes of its planned arena (0 for a NULL session or one
 * whose planning failed). */
FRUGALNN_API size_t frugalnn_session_max_batch(const frugalnn_session* session);
FRUGALNN_API size_t frugalnn_session_arena_bytes(const frugalnn_session* session);
/* Frees a session (NULL: nothing). Must not race with a run on it. */
FRUGALNN_API void frugalnn_session_free(frugalnn_session* session);

#ifdef __cplusplus
}
#endif

#endif /* FRUGALNN_H_ */
