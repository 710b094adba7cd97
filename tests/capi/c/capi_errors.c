/* Bad input through the C API: NULL pointers, indices out of range, wrong counts, sizes and
 * alignment, batches outside 1..max_batch, bad thread counts and budgets, missing, truncated
 * and corrupted files. Each must give its status and a message, and leave the objects usable.
 *
 *     capi_errors float_model.fnn int8_model.fnn expected_version scratch_dir
 *
 * float_model has one float32 input and one output; int8_model is an int8 program (it refuses
 * NaN inputs). Prints "ok <check>" or "FAIL <check>: ..." per check; exit 1 if any failed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <frugalnn.h>

#include "read_file.h"

static int failures = 0;

static void check(int ok, const char* name, const char* detail) {
  if (ok) {
    printf("ok %s\n", name);
  } else {
    printf("FAIL %s: %s\n", name, detail != NULL ? detail : "");
    ++failures;
  }
}

/* A status and a non-empty message. */
static void expect(frugalnn_status got, frugalnn_status want, const char* message, const char* name) {
  char detail[600];
  snprintf(detail, sizeof detail, "status %d (%s), expected %d; message '%s'", (int)got,
           frugalnn_status_string(got), (int)want, message != NULL ? message : "(NULL)");
  check(got == want && message != NULL && message[0] != '\0', name, detail);
}

static int write_file(const char* path, const unsigned char* data, size_t size) {
  FILE* f = fopen(path, "wb");
  int ok = f != NULL && fwrite(data, 1, size, f) == size;
  if (f != NULL) ok &= fclose(f) == 0;
  return ok;
}

/* Loading `size` bytes of a file from memory and, written to disk, through both file paths. */
static void expect_format_error(const unsigned char* data, size_t size, const char* scratch, const char* name) {
  char path[4096], label[200];
  frugalnn_model* m = NULL;
  frugalnn_status st = frugalnn_model_load_buffer(data, size, &m);
  snprintf(label, sizeof label, "%s (buffer)", name);
  expect(st, FRUGALNN_FORMAT_ERROR, frugalnn_model_error(m), label);
  check(frugalnn_model_input_count(m) == 0 && frugalnn_model_weight_bytes(m) == 0, "failed model is empty", NULL);
  frugalnn_model_free(m);
  snprintf(path, sizeof path, "%s/bad.fnn", scratch);
  if (!write_file(path, data, size)) {
    check(0, "write scratch file", path);
    return;
  }
  m = NULL;
  st = frugalnn_model_load_file(path, 0, &m);
  snprintf(label, sizeof label, "%s (mapped)", name);
  expect(st, FRUGALNN_FORMAT_ERROR, frugalnn_model_error(m), label);
  frugalnn_model_free(m);
  m = NULL;
  st = frugalnn_model_load_file(path, FRUGALNN_LOAD_COPY, &m);
  snprintf(label, sizeof label, "%s (read)", name);
  expect(st, FRUGALNN_FORMAT_ERROR, frugalnn_model_error(m), label);
  frugalnn_model_free(m);
}

static void files_and_buffers(const char* path, const char* scratch) {
  frugalnn_model* m = NULL;
  size_t size = 0, cut, k;
  unsigned char* data = read_file(path, &size);
  const size_t cuts[] = {0, 1, 8, 63, 64, 65, 100};
  if (data == NULL) {
    check(0, "read the model file", path);
    return;
  }
  check(frugalnn_model_load_file(path, 0, NULL) == FRUGALNN_INVALID_ARGUMENT, "load_file: out NULL", NULL);
  check(frugalnn_model_load_buffer(data, size, NULL) == FRUGALNN_INVALID_ARGUMENT, "load_buffer: out NULL", NULL);
  expect(frugalnn_model_load_file(NULL, 0, &m), FRUGALNN_INVALID_ARGUMENT, frugalnn_model_error(m), "load_file: path NULL");
  frugalnn_model_free(m);
  m = NULL;
  expect(frugalnn_model_load_file(path, 6, &m), FRUGALNN_INVALID_ARGUMENT, frugalnn_model_error(m), "load_file: unknown flags");
  frugalnn_model_free(m);
  m = NULL;
  expect(frugalnn_model_load_buffer(NULL, 10, &m), FRUGALNN_INVALID_ARGUMENT, frugalnn_model_error(m), "load_buffer: data NULL");
  frugalnn_model_free(m);
  m = NULL;
  expect(frugalnn_model_load_file("/nonexistent/model.fnn", 0, &m), FRUGALNN_IO_ERROR, frugalnn_model_error(m), "missing file");
  check(m != NULL && strstr(frugalnn_model_error(m), "/nonexistent/model.fnn") != NULL, "missing file: message names it", frugalnn_model_error(m));
  frugalnn_model_free(m);
  m = NULL;
  expect(frugalnn_model_load_file(scratch, FRUGALNN_LOAD_COPY, &m), FRUGALNN_IO_ERROR, frugalnn_model_error(m), "directory");
  frugalnn_model_free(m);

  for (k = 0; k < sizeof cuts / sizeof cuts[0]; ++k) expect_format_error(data, cuts[k], scratch, "truncated (header)");
  for (cut = size / 2; cut < size; cut += (size - cut + 1) / 2) expect_format_error(data, cut, scratch, "truncated (body)");
  /* A byte past the end, and flipped bytes in the header, the metadata and a blob (not the
   * padding after the last blob: no checksum covers it, and Python loads such a file too). */
  data[size] = 0;
  expect_format_error(data, size + 1, scratch, "one byte too many");
  {
    const size_t at[] = {0, 9, 20, 70, size / 2};
    for (k = 0; k < sizeof at / sizeof at[0]; ++k) {
      data[at[k]] ^= 0x10;
      expect_format_error(data, size, scratch, "corrupted byte");
      data[at[k]] ^= 0x10;
    }
  }
  m = NULL;
  check(frugalnn_model_load_buffer(data, size, &m) == FRUGALNN_OK && frugalnn_model_error(m)[0] == '\0',
        "the intact bytes still load", frugalnn_model_error(m));
  frugalnn_model_free(m);
  free(data);
}

static void model_queries(const frugalnn_model* m) {
  frugalnn_tensor_info t;
  size_t n = frugalnn_model_input_count(m);
  check(frugalnn_model_input(m, n, &t) == FRUGALNN_INVALID_ARGUMENT, "input index out of range", NULL);
  check(frugalnn_model_output(m, frugalnn_model_output_count(m), &t) == FRUGALNN_INVALID_ARGUMENT, "output index out of range", NULL);
  check(frugalnn_model_input(m, 0, NULL) == FRUGALNN_INVALID_ARGUMENT, "input info NULL", NULL);
  check(frugalnn_model_input(NULL, 0, &t) == FRUGALNN_INVALID_ARGUMENT, "input of a NULL model", NULL);
  check(frugalnn_model_input_count(NULL) == 0 && frugalnn_model_output_count(NULL) == 0 &&
        frugalnn_model_weight_bytes(NULL) == 0, "NULL model: counts 0", NULL);
  check(frugalnn_model_error(NULL) != NULL && frugalnn_model_error(NULL)[0] != '\0', "NULL model: a message", NULL);
  check(frugalnn_session_error(NULL) != NULL && frugalnn_session_max_batch(NULL) == 0 &&
        frugalnn_session_arena_bytes(NULL) == 0, "NULL session: a message, 0 bytes", NULL);
}

static void session_creation(const frugalnn_model* m) {
  frugalnn_session* s = NULL;
  frugalnn_model* failed = NULL;
  check(frugalnn_session_create(m, 1, 1, 0, NULL) == FRUGALNN_INVALID_ARGUMENT, "create: out NULL", NULL);
  expect(frugalnn_session_create(NULL, 1, 1, 0, &s), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "create: model NULL");
  check(frugalnn_session_arena_bytes(s) == 0 && frugalnn_session_max_batch(s) == 0, "failed session: 0 bytes", NULL);
  frugalnn_session_free(s);
  s = NULL;
  frugalnn_model_load_buffer("nope", 4, &failed);
  expect(frugalnn_session_create(failed, 1, 1, 0, &s), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "create: a model that failed to load");
  frugalnn_session_free(s);
  frugalnn_model_free(failed);
  s = NULL;
  expect(frugalnn_session_create(m, 0, 1, 0, &s), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "create: max_batch 0");
  frugalnn_session_free(s);
  s = NULL;
  expect(frugalnn_session_create(m, 1, 0, 0, &s), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "create: 0 threads");
  frugalnn_session_free(s);
  s = NULL;
  expect(frugalnn_session_create(m, 1, 1025, 0, &s), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "create: 1025 threads");
  frugalnn_session_free(s);
  s = NULL;
  {
    frugalnn_status st = frugalnn_session_create(m, SIZE_MAX, 1, 0, &s);
    check(st == FRUGALNN_INVALID_ARGUMENT || st == FRUGALNN_OUT_OF_MEMORY, "create: max_batch SIZE_MAX", frugalnn_session_error(s));
    check(frugalnn_session_error(s)[0] != '\0', "create: max_batch SIZE_MAX has a message", NULL);
  }
  frugalnn_session_free(s);
  s = NULL;
  expect(frugalnn_session_create(m, 4, 1, 64, &s), FRUGALNN_OUT_OF_MEMORY, frugalnn_session_error(s), "create: a 64-byte budget");
  check(strstr(frugalnn_session_error(s), "max_batch") != NULL, "budget message names max_batch", frugalnn_session_error(s));
  frugalnn_session_free(s);
}

static void runs(const frugalnn_model* m) {
  frugalnn_session* s = NULL;
  frugalnn_tensor_info in, out;
  float *x, *y;
  const void* inputs[2];
  void* outputs[2];
  size_t in_bytes[2], out_bytes[2];
  const size_t batch = 2;
  frugalnn_model_input(m, 0, &in);
  frugalnn_model_output(m, 0, &out);
  x = calloc(batch * in.sample_elems + 1, sizeof(float));
  y = calloc(batch * out.sample_elems + 1, sizeof(float));
  if (frugalnn_session_create(m, batch, 1, 0, &s) != FRUGALNN_OK || x == NULL || y == NULL) {
    check(0, "create a session", frugalnn_session_error(s));
    goto done;
  }
  inputs[0] = x;
  outputs[0] = y;
  in_bytes[0] = batch * in.sample_bytes;
  out_bytes[0] = batch * out.sample_bytes;
  check(frugalnn_session_run(NULL, 1, 1, inputs, in_bytes, 1, outputs, out_bytes) == FRUGALNN_INVALID_ARGUMENT, "run: session NULL", NULL);
  expect(frugalnn_session_run(s, 0, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: batch 0");
  expect(frugalnn_session_run(s, batch + 1, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: batch above max_batch");
  check(strstr(frugalnn_session_error(s), "max_batch") != NULL, "run: the message names max_batch", frugalnn_session_error(s));
  expect(frugalnn_session_run(s, batch, 2, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: too many inputs");
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 0, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: no outputs");
  expect(frugalnn_session_run(s, batch, 1, NULL, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: inputs NULL");
  expect(frugalnn_session_run(s, batch, 1, inputs, NULL, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: input_bytes NULL");
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, NULL, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: outputs NULL");
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, NULL), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: output_bytes NULL");
  inputs[0] = NULL;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: input buffer NULL");
  inputs[0] = x;
  outputs[0] = NULL;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: output buffer NULL");
  outputs[0] = y;
  in_bytes[0] -= 1;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: input a byte short");
  check(strstr(frugalnn_session_error(s), in.name) != NULL, "run: the message names the input", frugalnn_session_error(s));
  in_bytes[0] += 1 + in.sample_bytes;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: input a sample too long");
  in_bytes[0] = in.sample_bytes; /* right for batch 1, not for batch 2 */
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: input sized for another batch");
  in_bytes[0] = batch * in.sample_bytes;
  out_bytes[0] += 4;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: output too long");
  out_bytes[0] -= 4;
  outputs[0] = (char*)y + 1;
  expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: misaligned output");
  outputs[0] = y;
  if (in.dtype == FRUGALNN_FLOAT32) {
    inputs[0] = (const char*)x + 2;
    expect(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes), FRUGALNN_INVALID_ARGUMENT, frugalnn_session_error(s), "run: misaligned float input");
    inputs[0] = x;
  }
  check(frugalnn_session_run(s, batch, 1, inputs, in_bytes, 1, outputs, out_bytes) == FRUGALNN_OK, "run: valid after the failures", frugalnn_session_error(s));
  check(frugalnn_session_run(s, 1, 1, inputs, in_bytes, 1, outputs, out_bytes) == FRUGALNN_INVALID_ARGUMENT, "run: buffers of batch 2 for batch 1", NULL);
done:
  free(x);
  free(y);
  frugalnn_session_free(s);
}

static void non_finite_int8_input(const char* path) {
  frugalnn_model* m = NULL;
  frugalnn_session* s = NULL;
  frugalnn_tensor_info in, out;
  float *x = NULL, *y = NULL;
  if (frugalnn_model_load_file(path, 0, &m) != FRUGALNN_OK || frugalnn_session_create(m, 1, 1, 0, &s) != FRUGALNN_OK) {
    check(0, "load the int8 model", frugalnn_model_error(m));
    goto done;
  }
  frugalnn_model_input(m, 0, &in);
  frugalnn_model_output(m, 0, &out);
  x = calloc(in.sample_elems, sizeof(float));
  y = calloc(out.sample_elems, sizeof(float));
  if (x == NULL || y == NULL || in.dtype != FRUGALNN_FLOAT32) goto done;
  x[in.sample_elems / 2] = (float)NAN;
  {
    const void* inputs[1];
    void* outputs[1];
    inputs[0] = x;
    outputs[0] = y;
    expect(frugalnn_session_run(s, 1, 1, inputs, &in.sample_bytes, 1, outputs, &out.sample_bytes), FRUGALNN_INVALID_ARGUMENT,
           frugalnn_session_error(s), "run: NaN into an int8 program");
  }
done:
  free(x);
  free(y);
  frugalnn_session_free(s);
  frugalnn_model_free(m);
}

int main(int argc, char** argv) {
  frugalnn_model* m = NULL;
  int k;
  if (argc != 5) {
    fprintf(stderr, "usage: %s float_model.fnn int8_model.fnn expected_version scratch_dir\n", argv[0]);
    return 2;
  }
  check(strcmp(frugalnn_version(), argv[3]) == 0, "version", frugalnn_version());
  check(frugalnn_abi_version() == FRUGALNN_ABI_VERSION, "ABI version", NULL);
  for (k = 0; k <= 6; ++k) check(frugalnn_status_string((frugalnn_status)k) != NULL, "status string", NULL);
  check(strcmp(frugalnn_status_string((frugalnn_status)99), "unknown status") == 0, "unknown status string", NULL);
  frugalnn_model_free(NULL);
  frugalnn_session_free(NULL);

  files_and_buffers(argv[1], argv[4]);
  if (frugalnn_model_load_file(argv[1], 0, &m) != FRUGALNN_OK) {
    check(0, "load the float model", frugalnn_model_error(m));
  } else {
    check(frugalnn_model_error(m)[0] == '\0', "a loaded model has no message", frugalnn_model_error(m));
    model_queries(m);
    session_creation(m);
    runs(m);
  }
  frugalnn_model_free(m);
  non_finite_int8_input(argv[2]);
  printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
