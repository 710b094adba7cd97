/* Replays a corpus of .fnn files (the mutants of tests/io/test_fnn_fuzz.py) through the C API:
 * each must load and run, or fail with a status and a message; never crash. Built against an
 * AddressSanitizer build of the library (.ci/run), it also proves no file makes the reader or
 * a session touch memory out of bounds.
 *
 *     capi_fuzz_replay manifest.txt
 *
 * The manifest has one "<map|copy|buffer> <path>" line per file. Prints one line per file:
 * "ran", or "<status number> <message>". A file that loads is run at batch 2 (max_batch 2, one
 * thread) on finite inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <frugalnn.h>

#include "read_file.h"

static void report(frugalnn_status st, const char* message) {
  const char* p;
  printf("%d ", (int)st);
  for (p = message; *p != '\0'; ++p) putchar(*p == '\n' ? ' ' : *p);
  putchar('\n');
}

/* Loads and runs one file; the buffers live until the run is over. */
static void replay(const char* mode, const char* path) {
  frugalnn_model* m = NULL;
  frugalnn_session* s = NULL;
  frugalnn_status st;
  const size_t batch = 2;
  size_t n_in, n_out, i, j;
  void* buffers[32] = {0};
  size_t bytes[32];

  if (strcmp(mode, "buffer") == 0) {
    size_t size = 0;
    unsigned char* data = read_file(path, &size);
    if (data == NULL) {
      printf("cannot read %s\n", path);
      return;
    }
    st = frugalnn_model_load_buffer(data, size, &m);
    free(data);
  } else {
    st = frugalnn_model_load_file(path, strcmp(mode, "copy") == 0 ? FRUGALNN_LOAD_COPY : 0, &m);
  }
  if (st != FRUGALNN_OK) {
    report(st, frugalnn_model_error(m));
    goto done;
  }
  st = frugalnn_session_create(m, batch, 1, 0, &s);
  if (st != FRUGALNN_OK) {
    report(st, frugalnn_session_error(s));
    goto done;
  }
  n_in = frugalnn_model_input_count(m);
  n_out = frugalnn_model_output_count(m);
  if (n_in + n_out > 32) {
    printf("too many inputs and outputs for this driver\n");
    goto done;
  }
  for (i = 0; i < n_in + n_out; ++i) {
    frugalnn_tensor_info t;
    if (i < n_in) {
      frugalnn_model_input(m, i, &t);
    } else {
      frugalnn_model_output(m, i - n_in, &t);
    }
    bytes[i] = batch * t.sample_bytes;
    buffers[i] = malloc(bytes[i] > 0 ? bytes[i] : 1);
    if (buffers[i] == NULL) {
      printf("out of memory in the driver\n");
      goto done;
    }
    /* Finite values in [-1, 1) for float inputs; any bytes do for u8 / s8. */
    if (i < n_in && t.dtype == FRUGALNN_FLOAT32) {
      for (j = 0; j < bytes[i] / 4; ++j) ((float*)buffers[i])[j] = (float)((int)(j * 37 % 64) - 32) / 32.0f;
    } else {
      memset(buffers[i], 0x5A, bytes[i]);
    }
  }
  st = frugalnn_session_run(s, batch, n_in, (const void* const*)buffers, bytes, n_out, buffers + n_in, bytes + n_in);
  if (st != FRUGALNN_OK) {
    report(st, frugalnn_session_error(s));
  } else {
    printf("ran\n");
  }
done:
  for (i = 0; i < 32; ++i) free(buffers[i]);
  frugalnn_session_free(s);
  frugalnn_model_free(m);
}

int main(int argc, char** argv) {
  FILE* manifest;
  char line[4200];
  if (argc != 2) {
    fprintf(stderr, "usage: %s manifest.txt\n", argv[0]);
    return 2;
  }
  manifest = fopen(argv[1], "r");
  if (manifest == NULL) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  while (fgets(line, sizeof line, manifest) != NULL) {
    char* path = strchr(line, ' ');
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    if (path == NULL) continue;
    *path++ = '\0';
    replay(line, path);
    fflush(stdout);
  }
  fclose(manifest);
  return 0;
}
