/*
 * nn.h -- dense feed-forward networks for physics-informed training.
 *
 * A network maps ninputs -> ... -> noutputs: layer l computes
 * h_{l+1} = act_l(W_l h_l + b_l).  Everything is batched over npoints rows
 * through cblas_dgemm; X is npoints x ninputs, row-major.
 *
 * Besides Y, a forward pass can carry the tangent dY = dY/dx_k along one
 * input column k (the time input: a physics loss needs dC/dt), and the
 * reverse pass differentiates a loss that depends on both Y and dY with
 * respect to every parameter, exactly (second derivatives of the
 * activations included).  docs/networks.md gives the scheme.
 *
 * Parameters are one flat double vector owned by the caller, so a trainer
 * can put them beside its other parameters for Adam or L-BFGS.  Layout,
 * layer by layer from the input: W_l row-major [width[l+1] x width[l]]
 * (W_l[j*width[l] + i] joins input i to output j), then b_l [width[l+1]].
 * nn_weights_offset() and nn_bias_offset() give the offsets.
 *
 * Ownership: nn_new() allocates an Nn (the shape only: immutable, shared
 * by threads); nn_free() frees it.  nn_work_new() allocates the per-thread
 * workspace for batches of up to maxpoints rows (the stored activations
 * of the last forward pass); nn_work_free() frees it.  Nothing else
 * allocates, so training epochs do not.  An Nn must outlive its
 * workspaces.  Each is one block: a failed allocation returns NN_ENOMEM
 * (with -DQLX_FAULTS, QLX_FAIL_ALLOC=0 makes it fail, as for an arena's
 * first chunk).
 *
 * Errors: functions that can fail return NN_OK (0) or a negative code,
 * with a message in the caller's err buffer (NN_ERRLEN bytes, may be
 * NULL) or, for the batch functions, in nn_work_error().
 */
#ifndef QLX_NN_H
#define QLX_NN_H

#include <stddef.h>
#include <stdint.h>

typedef enum { NN_IDENTITY, NN_TANH, NN_RELU, NN_SIGMOID, NN_SOFTPLUS } NnAct;

enum { NN_OK = 0, NN_EINVAL = -1, NN_ENOMEM = -2 };
enum { NN_MAXLAYERS = 32, NN_ERRLEN = 160 };

/* The rng.h stream of layer l's initial weights is NN_STREAM + l. */
#define NN_STREAM 0x4E4E0000u

/* nlayers weight layers; width[0] is ninputs, width[nlayers] noutputs;
 * act[l] follows layer l (act[nlayers-1] is the output's). */
typedef struct {
    int nlayers;
    int width[NN_MAXLAYERS + 1];
    NnAct act[NN_MAXLAYERS];
} NnSpec;

typedef struct Nn Nn;
typedef struct NnWork NnWork;

/* --- activations ------------------------------------------------------------ */

/* "tanh", "relu", "sigmoid", "softplus", "identity". */
const char *nn_act_name(NnAct a);
/* The activation of that name, case-insensitive.  NN_OK or NN_EINVAL. */
int nn_act_from_name(const char *name, NnAct *a);
/* act(x), and act'(x), act''(x) into d1, d2 (either may be NULL).  relu'(0)
 * is 0, and relu'' is 0 everywhere. */
double nn_act_eval(NnAct a, double x, double *d1, double *d2);

/* --- shape ------------------------------------------------------------------ */

/* widths[0..nwidths-1], every hidden layer `hidden`, the output identity. */
int nn_spec_dense(NnSpec *s, int nwidths, const int *widths, NnAct hidden, char *err);
/* The .qlx DENSE chain: "1 -> 16 tanh -> 16 tanh -> 1".  A hidden width
 * without an activation is tanh, the output without one identity; an
 * activation on the input width is an error. */
int nn_spec_parse(const char *chain, NnSpec *s, char *err);

int  nn_new(const NnSpec *spec, Nn **out, char *err);
void nn_free(Nn **nn);

const NnSpec *nn_spec(const Nn *nn);
int nn_nparams(const Nn *nn);
int nn_ninputs(const Nn *nn);
int nn_noutputs(const Nn *nn);
int nn_weights_offset(const Nn *nn, int layer);
int nn_bias_offset(const Nn *nn, int layer);
/* "1 -> 16 tanh -> 16 tanh -> 1" into buf; returns what snprintf does. */
int nn_describe(const Nn *nn, char *buf, size_t n);

/* Xavier/Glorot uniform: W_l ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)),
 * so var = 2 / (fan_in + fan_out); biases 0.  Layer l draws from
 * rng_init(seed, unit, NN_STREAM + l): the same seed gives the same
 * weights on any thread, and one layer's weights do not depend on the
 * others' sizes. */
void nn_init(const Nn *nn, uint64_t seed, uint32_t unit, double *params);

/* --- batches ---------------------------------------------------------------- */

int  nn_work_new(const Nn *nn, int maxpoints, NnWork **out, char *err);
void nn_work_free(NnWork **w);
/* The message of the last failed batch call ("" if none). */
const char *nn_work_error(const NnWork *w);

/* Y (npoints x noutputs) = net(X).  NN_OK or NN_EINVAL. */
int nn_forward(NnWork *w, const double *params, int npoints, const double *X, double *Y);
/* Y, and dY = dY/dX[:, k] (npoints x noutputs) by forward-mode tangents. */
int nn_forward_tangent(NnWork *w, const double *params, int npoints, const double *X, int k,
                       double *Y, double *dY);
/* The reverse pass of the last forward pass, for a loss L(Y, dY):
 * gY = dL/dY and gdY = dL/d(dY) (npoints x noutputs; NULL for zero; gdY
 * only after nn_forward_tangent).  grad (nparams) += dL/dparams; gX
 * (npoints x ninputs; NULL to skip) = dL/dX, complete through both Y and
 * dY.  params and X must be the forward pass's.  NN_OK or NN_EINVAL. */
int nn_backward(NnWork *w, const double *params, const double *X, const double *gY,
                const double *gdY, double *grad, double *gX);

#endif
