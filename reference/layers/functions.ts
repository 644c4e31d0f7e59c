// The layer functions as one set, with the allocation of their outputs. Models that call them
// through a `layers` field (WeightedNode, VisionTransformer) run on the float32 path too: it
// swaps in a set with the same signatures (src/fast/layers.ts) whose tensors are float32 and
// whose loops run in the native addon. Here every entry is the plain float64 function itself.
import { attentionBackward, attentionForward } from './attention.ts';
import { conv2dBackward, conv2dForward } from './conv2d.ts';
import { geluBackward, geluForward } from './gelu.ts';
import { layerNormBackward, layerNormForward } from './layernorm.ts';
import { linearBackward, linearForward } from './linear.ts';
import { tensor, type Tensor } from '../tensor.ts';

export const referenceLayers = {
  /** A zero tensor of this shape, for a layer's output or gradient. */
  tensor: (shape: readonly number[]): Tensor => tensor(shape),
  linearForward, linearBackward,
  conv2dForward, conv2dBackward,
  geluForward, geluBackward,
  layerNormForward, layerNormBackward,
  attentionForward, attentionBackward,
};

export type LayerFunctions = typeof referenceLayers;
