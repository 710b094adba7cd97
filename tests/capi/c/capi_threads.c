/* The header's thread-safety promises: one model shared by threads that each create sessions
 * from it, and one session run by several threads at once — valid runs (each must give the
 * lone run's bits) interleaved with failing ones (which store their messages meanwhile).
 *
 *     capi_threads model.fnn
 *
 * The model has one float32 input and one output. Exit 0 when every run agreed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <frugalnn.h>

enum { kThreads = 4, kIterations = 40, kBatch = 2 };

static frugalnn_model* model;
static frugalnn_session* shared;
static frugalnn_tensor_info in, out;
static float *x, *want;

static int run(frugalnn_session* s, size_t batch, float* y) {
  const void* inputs[1];
  void* outputs[1];
  size_t in_bytes = kBatch * in.sample_bytes, out_bytes = kBatch * out.sample_bytes;
  inputs[0] = x;
  outputs[0] = y;
  return (int)frugalnn_session_run(s, batch, 1, inputs, &in_bytes, 1, outputs, &out_bytes);
}

static void* worker(void* arg) {
  long bad = 0;
  int i;
  float* y = malloc(kBatch * out.sample_bytes);
  (void)arg;
  if (y == NULL) return (void*)1;
  for (i = 0; i < kIterations; ++i) {
    if (run(shared, kBatch, y) != FRUGALNN_OK || memcmp(y, want, kBatch * out.sample_bytes) != 0) ++bad;
    if (run(shared, kBatch + 1, y) != FRUGALNN_INVALID_ARGUMENT) ++bad;
    if (strlen(frugalnn_session_error(shared)) >= 1024) ++bad;
    if (i % 10 == 0) {
      frugalnn_session* own = NULL;
      if (frugalnn_session_create(model, kBatch, 2, 0, &own) != FRUGALNN_OK || run(own, kBatch, y) != FRUGALNN_OK ||
          memcmp(y, want, kBatch * out.sample_bytes) != 0) {
        ++bad;
      }
      frugalnn_session_free(own);
    }
  }
  free(y);
  return (void*)bad;
}

int main(int argc, char** argv) {
  pthread_t threads[kThreads];
  long bad = 0;
  size_t i;
  int t;
  if (argc != 2 || frugalnn_model_load_file(argv[1], 0, &model) != FRUGALNN_OK ||
      frugalnn_session_create(model, kBatch, 1, 0, &shared) != FRUGALNN_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argc > 1 ? argv[1] : "(no model)", frugalnn_model_error(model));
    return 2;
  }
  frugalnn_model_input(model, 0, &in);
  frugalnn_model_output(model, 0, &out);
  x = malloc(kBatch * in.sample_bytes);
  want = malloc(kBatch * out.sample_bytes);
  if (x == NULL || want == NULL) return 2;
  for (i = 0; i < kBatch * in.sample_elems; ++i) x[i] = (float)((int)(i * 7919 % 200) - 100) / 50.0f;
  if (run(shared, kBatch, want) != FRUGALNN_OK) return 2;
  for (t = 0; t < kThreads; ++t) pthread_create(&threads[t], NULL, worker, NULL);
  for (t = 0; t < kThreads; ++t) {
    void* r;
    pthread_join(threads[t], &r);
    bad += (long)r;
  }
  printf("%ld bad runs\n", bad);
  free(x);
  free(want);
  frugalnn_session_free(shared);
  frugalnn_model_free(model);
  return bad == 0 ? 0 : 1;
}
