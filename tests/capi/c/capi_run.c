/* Runs a model through the C API for tests/capi: prints what the model says about its inputs
 * and outputs, runs one batch from raw input files and writes the raw outputs.
 *
 *     capi_run map|copy|buffer model.fnn batch max_batch threads in0 [in1 ...] -- out0 [out1 ...]
 *
 * Prints "input|output <i> <name> <dtype> <sample_elems> <sample_bytes> <scale> <zero_point>
 * <dims...>", then "weight_bytes <n>" and "arena_bytes <n>". Exit 0 on success; otherwise the
 * status and message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <frugalnn.h>

#include "read_file.h"

static void print_info(const char* what, size_t i, const frugalnn_tensor_info* t) {
  size_t d;
  printf("%s %zu %s %d %zu %zu %.9g %d", what, i, t->name, (int)t->dtype, t->sample_elems, t->sample_bytes,
         t->scale, (int)t->zero_point);
  for (d = 0; d < t->rank; ++d) printf(" %llu", (unsigned long long)t->dims[d]);
  printf("\n");
}

int main(int argc, char** argv) {
  frugalnn_model* model = NULL;
  frugalnn_session* session = NULL;
  frugalnn_status st;
  size_t batch, max_batch, threads, n_in, n_out, i, sep;
  const void** inputs = NULL;
  void** outputs = NULL;
  size_t *in_bytes = NULL, *out_bytes = NULL;
  int rc = 1;

  if (argc < 7) {
    fprintf(stderr, "usage: %s map|copy|buffer model.fnn batch max_batch threads in... -- out...\n", argv[0]);
    return 2;
  }
  batch = strtoul(argv[3], NULL, 10);
  max_batch = strtoul(argv[4], NULL, 10);
  threads = strtoul(argv[5], NULL, 10);
  for (sep = 6; sep < (size_t)argc && strcmp(argv[sep], "--") != 0; ++sep) {
  }

  if (strcmp(argv[1], "buffer") == 0) {
    size_t size = 0;
    unsigned char* bytes = read_file(argv[2], &size);
    if (bytes == NULL) {
      fprintf(stderr, "cannot read %s\n", argv[2]);
      return 1;
    }
    st = frugalnn_model_load_buffer(bytes, size, &model);
    memset(bytes, 0xA5, size); /* the model must hold its own copy */
    free(bytes);
  } else {
    st = frugalnn_model_load_file(argv[2], strcmp(argv[1], "copy") == 0 ? FRUGALNN_LOAD_COPY : 0, &model);
  }
  if (st != FRUGALNN_OK) {
    fprintf(stderr, "load: %s: %s\n", frugalnn_status_string(st), frugalnn_model_error(model));
    goto done;
  }
  n_in = frugalnn_model_input_count(model);
  n_out = frugalnn_model_output_count(model);
  if (sep - 6 != n_in || (size_t)argc - sep - 1 != n_out) {
    fprintf(stderr, "the model has %zu inputs and %zu outputs\n", n_in, n_out);
    goto done;
  }
  inputs = calloc(n_in + 1, sizeof *inputs);
  in_bytes = calloc(n_in + 1, sizeof *in_bytes);
  outputs = calloc(n_out + 1, sizeof *outputs);
  out_bytes = calloc(n_out + 1, sizeof *out_bytes);
  if (!inputs || !in_bytes || !outputs || !out_bytes) goto done;
  for (i = 0; i < n_in; ++i) {
    frugalnn_tensor_info t;
    if (frugalnn_model_input(model, i, &t) != FRUGALNN_OK) goto done;
    print_info("input", i, &t);
    inputs[i] = read_file(argv[6 + i], &in_bytes[i]);
    if (inputs[i] == NULL) {
      fprintf(stderr, "cannot read %s\n", argv[6 + i]);
      goto done;
    }
  }
  for (i = 0; i < n_out; ++i) {
    frugalnn_tensor_info t;
    if (frugalnn_model_output(model, i, &t) != FRUGALNN_OK) goto done;
    print_info("output", i, &t);
    out_bytes[i] = batch * t.sample_bytes;
    outputs[i] = malloc(out_bytes[i] + 1);
    if (outputs[i] == NULL) goto done;
  }
  printf("weight_bytes %zu\n", frugalnn_model_weight_bytes(model));

  st = frugalnn_session_create(model, max_batch, threads, 0, &session);
  if (st != FRUGALNN_OK) {
    fprintf(stderr, "session: %s: %s\n", frugalnn_status_string(st), frugalnn_session_error(session));
    goto done;
  }
  /* The session must not need its model any more. */
  frugalnn_model_free(model);
  model = NULL;
  printf("arena_bytes %zu\n", frugalnn_session_arena_bytes(session));
  st = frugalnn_session_run(session, batch, n_in, inputs, in_bytes, n_out, (void* const*)outputs, out_bytes);
  if (st != FRUGALNN_OK) {
    fprintf(stderr, "run: %s: %s\n", frugalnn_status_string(st), frugalnn_session_error(session));
    goto done;
  }
  for (i = 0; i < n_out; ++i) {
    FILE* f = fopen(argv[sep + 1 + i], "wb");
    if (f == NULL || fwrite(outputs[i], 1, out_bytes[i], f) != out_bytes[i]) {
      fprintf(stderr, "cannot write %s\n", argv[sep + 1 + i]);
      if (f != NULL) fclose(f);
      goto done;
    }
    fclose(f);
  }
  rc = 0;

done:
  for (i = 0; inputs != NULL && inputs[i] != NULL; ++i) free((void*)inputs[i]);
  for (i = 0; outputs != NULL && outputs[i] != NULL; ++i) free(outputs[i]);
  free(inputs);
  free(outputs);
  free(in_bytes);
  free(out_bytes);
  frugalnn_session_free(session);
  frugalnn_model_free(model);
  return rc;
}
