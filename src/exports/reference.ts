// `ldfa/reference`: the readable float64 reference (tensors, RNG, layers, feedback operators, rules,
// models, optimisers, metrics) as one import. Every module of reference/ is re-exported whole
// except kernels.ts; each keeps its own documentation (the equation, the shapes).
export * from '../../reference/tensor.ts';
export * from '../../reference/rng.ts';
export * from '../../reference/params.ts';
export * from '../../reference/linalg.ts';
// The conv kernels (no bias) are reachable as referenceBackend.conv2d*; the layers' conv2dForward/Backward are the API.
export { matmul, batchMatmul, referenceBackend } from '../../reference/kernels.ts';
export * from '../../reference/backend.ts';
export * from '../../reference/feedback.ts';
export * from '../../reference/optim.ts';
export * from '../../reference/metrics.ts';
export * from '../../reference/flops.ts';
export * from '../../reference/layers/linear.ts';
export * from '../../reference/layers/activation.ts';
export * from '../../reference/layers/losses.ts';
export * from '../../reference/layers/conv2d.ts';
export * from '../../reference/layers/pool.ts';
export * from '../../reference/layers/batchnorm.ts';
export * from '../../reference/layers/layernorm.ts';
export * from '../../reference/layers/gelu.ts';
export * from '../../reference/layers/attention.ts';
export * from '../../reference/layers/patch.ts';
export * from '../../reference/layers/functions.ts';
export * from '../../reference/models/network.ts';
export * from '../../reference/models/nodes.ts';
export * from '../../reference/models/mlp.ts';
export * from '../../reference/models/cnn.ts';
export * from '../../reference/models/retina.ts';
export * from '../../reference/models/vit.ts';
export * from '../../reference/rules/rule.ts';
export * from '../../reference/rules/bp.ts';
export * from '../../reference/rules/fa.ts';
export * from '../../reference/rules/dfa.ts';
export * from '../../reference/rules/ldfa.ts';
export * from '../../reference/rules/usf.ts';
export * from '../../reference/rules/brsf.ts';
export * from '../../reference/rules/frsf.ts';
export * from '../../reference/rules/kp.ts';
export * from '../../reference/rules/wm.ts';
export * from '../../reference/rules/pfa.ts';
export * from '../../reference/rules/index.ts';
