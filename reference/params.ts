import { zerosLike, type Tensor } from './tensor.ts';

/** A learned tensor with its gradient. `decay` is false for biases and norm parameters. */
export interface Param {
  readonly name: string;
  readonly value: Tensor;
  readonly grad: Tensor;
  readonly decay: boolean;
}

export function param(name: string, value: Tensor, decay = true): Param {
  return { name, value, grad: zerosLike(value), decay };
}
