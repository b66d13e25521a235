//! The smooth activations (tanh, sigmoid, softplus) and leaky ReLU as one fused burn operation
//! each, through burn's backend extension mechanism.
//!
//! burn 0.22.1 computes them with scalar libm calls per element (burn-flex's `unary_op`,
//! burn-ndarray's `mapv`), and its autodiff keeps the *input*: the backward pass computes the
//! activation a second time, then the derivative in four more element-wise passes that each
//! allocate a tensor. Profiled on burn-flex f32 (n = 8 000, d = 16, h = 64), 63 % of a tanh
//! epoch went to scalar `tanhf`/`expf` (see `docs/notes/issue-26.md`).
//!
//! Here each activation is one operation:
//! - forward: [`fitbench_core::vmath`]'s vectorised kernel over the tensor's buffer, in place
//!   when burn holds the only reference (f32 tensors are computed in f64 and rounded once);
//! - the *output* y is kept for the backward pass, which is one fused pass over the incoming
//!   gradient g, in place: tanh g·(1 − y²), sigmoid g·y(1 − y), leaky ReLU g·(y > 0 ? 1 : α);
//!   softplus keeps σ(x) = softplus′(x) instead, computed in the forward pass from the same
//!   exponential as the output, and its backward pass is g·σ.
//!
//! burn's leaky ReLU is a composite of masks and selects: 3.1× torch's epoch in one run of
//! `measure.sh` (where ReLU was 0.72×).
//!
//! The kernels give the same bits on every x86-64 CPU ([`fitbench_core::vmath`]'s contract), so
//! a run's curve does not depend on the instruction set. [`Kernels::Burn`] keeps burn's own
//! operations for comparison.

// The kernels go in as `#[inline(always)]` closures on purpose (see `forward`).
#![allow(clippy::redundant_closure)]

use burn::backend::Dispatch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, backend_extension};
use burn::tensor::Tensor;
use fitbench_core::vmath::{self, Lane};
use serde::{Deserialize, Serialize};

/// Which implementation of the smooth activations the gradient trainers use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// One fused operation per activation on [`fitbench_core::vmath`]'s kernels (this module).
    #[default]
    Fitbench,
    /// burn's own operations (tanh on flex as 2σ(2z) − 1, burn's fused sigmoid there, leaky
    /// ReLU by burn's masks).
    Burn,
}

/// An activation with a fused kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fused {
    /// tanh.
    Tanh,
    /// The logistic sigmoid.
    Sigmoid,
    /// ln(1 + eˣ).
    Softplus,
    /// x for x > 0, αx otherwise, with α ∈ [0, 1) (so y > 0 exactly where x > 0, and the
    /// derivative follows from the output).
    LeakyRelu {
        /// The negative-side slope.
        alpha: f64,
    },
}

/// The element-wise kernels of one backend: forward over a pre-activation, backward from the
/// state the forward pass saved and the incoming gradient.
///
/// The state is the output y for tanh, sigmoid and leaky ReLU (their derivatives follow from
/// it) and σ(x) = softplus′(x) for softplus, computed from the same exponential as the output
/// ([`vmath::softplus_and_sigmoid`]), so its backward pass is one product.
pub trait SmoothKernels: Backend {
    /// f(x), element-wise.
    fn smooth_forward(x: FloatTensor<Self>, kind: Fused) -> FloatTensor<Self>;
    /// (f(x), the state for [`SmoothKernels::smooth_backward`]).
    fn smooth_forward_saving(
        x: FloatTensor<Self>,
        kind: Fused,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// g ⊙ f′(x), computed from the saved state.
    fn smooth_backward(
        state: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kind: Fused,
    ) -> FloatTensor<Self>;
}

pub use extension::SmoothActivation;

/// The extension trait in a module of its own: the macro's generated routing names
/// burn-ndarray, which is deprecated upstream (fitbench still offers `backend=ndarray`).
mod extension {
    #![allow(deprecated)]
    use super::*;

    /// The fused activation as a backend extension (routed through burn's `Dispatch`).
    #[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
    pub trait SmoothActivation: Backend {
        /// f(x), element-wise, with a fused backward pass under autodiff.
        fn smooth_activation(x: FloatTensor<Self>, kind: Fused) -> FloatTensor<Self>;
    }
}

/// `f` applied to `z` with the fused operation.
pub fn smooth(z: Tensor<2>, kind: Fused) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as SmoothActivation>::smooth_activation(
        z.into_dispatch(),
        kind,
    ))
}

/// f(x) over a buffer, in place (f32 computed in f64 and rounded once: [`Lane`]). The kernels
/// go in as `#[inline(always)]` closures (see [`vmath::map_in_place`]).
fn forward<T: Lane>(xs: &mut [T], kind: Fused) {
    match kind {
        Fused::Tanh => vmath::map_in_place(
            xs,
            #[inline(always)]
            |x| vmath::tanh(x),
        ),
        Fused::Sigmoid => vmath::map_in_place(
            xs,
            #[inline(always)]
            |x| vmath::sigmoid(x),
        ),
        Fused::Softplus => vmath::map_in_place(
            xs,
            #[inline(always)]
            |x| vmath::softplus(x),
        ),
        Fused::LeakyRelu { alpha } => {
            let alpha = slope::<T>(alpha);
            vmath::map_in_place(
                xs,
                #[inline(always)]
                move |x| x * if x > 0.0 { 1.0 } else { alpha },
            )
        }
    }
}

/// Softplus over `xs` in place and σ = softplus′ into `sigma`, from one exponential.
fn forward_softplus_saving<T: Lane>(xs: &mut [T], sigma: &mut [T]) {
    vmath::map2_in_place(
        xs,
        sigma,
        #[inline(always)]
        |x| vmath::softplus_and_sigmoid(x),
    );
}

/// `grad ← grad ⊙ f′` from the saved state (the output; σ for softplus), in place.
fn backward<T: Lane>(grad: &mut [T], state: &[T], kind: Fused) {
    match kind {
        Fused::Tanh => vmath::zip_map_in_place(
            grad,
            state,
            #[inline(always)]
            |g, y| g * (1.0 - y * y),
        ),
        Fused::Sigmoid => vmath::zip_map_in_place(
            grad,
            state,
            #[inline(always)]
            |g, y| g * (y * (1.0 - y)),
        ),
        Fused::Softplus => vmath::zip_map_in_place(
            grad,
            state,
            #[inline(always)]
            |g, sigma| g * sigma,
        ),
        Fused::LeakyRelu { alpha } => {
            let alpha = slope::<T>(alpha);
            vmath::zip_map_in_place(
                grad,
                state,
                #[inline(always)]
                move |g, y| g * if y > 0.0 { 1.0 } else { alpha },
            )
        }
    }
}

/// Leaky ReLU's slope in the tensor's precision, as burn rounds it: for f32, x·α of two f32
/// values is exact in f64, so rounding it once gives burn's f32 product bit for bit.
fn slope<T: Lane>(alpha: f64) -> f64 {
    T::narrow(alpha).widen()
}

/// The activation with a backend's own operations: the path for dtypes the fused kernels do
/// not cover (half precision) and for layouts they cannot take.
fn generic_forward<B: Backend>(x: FloatTensor<B>, kind: Fused) -> FloatTensor<B> {
    match kind {
        Fused::Tanh => B::float_tanh(x),
        Fused::Sigmoid => B::sigmoid(x),
        Fused::Softplus => {
            // max(x, 0) + ln(1 + e^−|x|), stable for every x.
            let relu = B::relu(x.clone());
            let tail = B::float_log1p(B::float_exp(B::float_neg(B::float_abs(x))));
            B::float_add(relu, tail)
        }
        Fused::LeakyRelu { alpha } => B::leaky_relu(x, alpha.into()),
    }
}

/// (f(x), state) with a backend's own operations (see [`generic_forward`]).
fn generic_forward_saving<B: Backend>(
    x: FloatTensor<B>,
    kind: Fused,
) -> (FloatTensor<B>, FloatTensor<B>) {
    if kind == Fused::Softplus {
        let sigma = B::sigmoid(x.clone());
        (generic_forward::<B>(x, kind), sigma)
    } else {
        let y = generic_forward::<B>(x, kind);
        (y.clone(), y)
    }
}

/// g ⊙ f′(y) with a backend's own operations (see [`generic_forward`]).
fn generic_backward<B: Backend>(
    y: FloatTensor<B>, // the state: σ(x) for softplus, the output otherwise
    grad: FloatTensor<B>,
    kind: Fused,
) -> FloatTensor<B> {
    match kind {
        Fused::Tanh => {
            let y2 = B::float_mul(y.clone(), y);
            B::float_mul(grad, B::float_add_scalar(B::float_neg(y2), 1.0.into()))
        }
        Fused::Sigmoid => B::sigmoid_backward(y, grad),
        Fused::Softplus => B::float_mul(grad, y),
        Fused::LeakyRelu { alpha } => {
            // g where y > 0, αg elsewhere: (1 − α)·relu′(y)·g + α·g.
            let positive =
                B::float_mul_scalar(B::relu_backward(y, grad.clone()), (1.0 - alpha).into());
            B::float_add(positive, B::float_mul_scalar(grad, alpha.into()))
        }
    }
}

#[cfg(feature = "flex")]
mod flex {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::DType;

    /// `t` with a contiguous element range, and that range.
    fn contiguous(t: FlexTensor) -> (FlexTensor, Option<(usize, usize)>) {
        let t = match t.layout().contiguous_offsets() {
            Some(_) => t,
            None => t.to_contiguous(),
        };
        let range = t.layout().contiguous_offsets();
        (t, range)
    }

    impl SmoothKernels for Flex {
        fn smooth_forward(x: FlexTensor, kind: Fused) -> FlexTensor {
            let (mut t, range) = contiguous(x);
            let Some((start, end)) = range else {
                return generic_forward::<Flex>(t, kind);
            };
            // `storage_mut` copies a shared buffer first (copy on write), so a tensor someone
            // else still holds is never changed.
            match t.dtype() {
                DType::F64 => forward(&mut t.storage_mut::<f64>()[start..end], kind),
                DType::F32 => forward(&mut t.storage_mut::<f32>()[start..end], kind),
                _ => return generic_forward::<Flex>(t, kind),
            }
            t
        }

        fn smooth_forward_saving(x: FlexTensor, kind: Fused) -> (FlexTensor, FlexTensor) {
            if kind != Fused::Softplus {
                let y = Self::smooth_forward(x, kind);
                return (y.clone(), y);
            }
            let (mut t, range) = contiguous(x);
            let Some((start, end)) = range else {
                return generic_forward_saving::<Flex>(t, kind);
            };
            let dtype = t.dtype();
            let mut sigma = FlexTensor::empty(t.layout().shape().clone(), dtype);
            match dtype {
                DType::F64 => forward_softplus_saving(
                    &mut t.storage_mut::<f64>()[start..end],
                    sigma.storage_mut::<f64>(),
                ),
                DType::F32 => forward_softplus_saving(
                    &mut t.storage_mut::<f32>()[start..end],
                    sigma.storage_mut::<f32>(),
                ),
                _ => return generic_forward_saving::<Flex>(t, kind),
            }
            (t, sigma)
        }

        fn smooth_backward(state: FlexTensor, grad: FlexTensor, kind: Fused) -> FlexTensor {
            let (mut g, g_range) = contiguous(grad);
            let (s, s_range) = contiguous(state);
            let same = g.layout().shape() == s.layout().shape() && g.dtype() == s.dtype();
            let (true, Some((gs, ge)), Some((ss, se))) = (same, g_range, s_range) else {
                return generic_backward::<Flex>(s, g, kind);
            };
            match g.dtype() {
                DType::F64 => backward(
                    &mut g.storage_mut::<f64>()[gs..ge],
                    &s.storage::<f64>()[ss..se],
                    kind,
                ),
                DType::F32 => backward(
                    &mut g.storage_mut::<f32>()[gs..ge],
                    &s.storage::<f32>()[ss..se],
                    kind,
                ),
                _ => return generic_backward::<Flex>(s, g, kind),
            }
            g
        }
    }

    impl SmoothActivation for Flex {
        fn smooth_activation(x: FlexTensor, kind: Fused) -> FlexTensor {
            Self::smooth_forward(x, kind)
        }
    }
}

#[cfg(feature = "ndarray")]
mod ndarray {
    #![allow(deprecated)]
    use super::*;
    use burn::backend::NdArray;
    use burn::backend::ndarray::{NdArrayTensor, SharedArray};

    /// `a` in standard (C) layout, not shared: its slice can be written in place.
    fn standard<T: Lane>(a: SharedArray<T>) -> SharedArray<T> {
        if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().to_shared()
        }
    }

    fn forward_array<T: Lane>(a: SharedArray<T>, kind: Fused) -> NdArrayTensor
    where
        NdArrayTensor: From<SharedArray<T>>,
    {
        let mut a = standard(a);
        match a.as_slice_mut() {
            Some(xs) => forward(xs, kind),
            None => return generic_forward::<NdArray>(NdArrayTensor::from(a), kind),
        }
        NdArrayTensor::from(a)
    }

    fn softplus_saving_array<T: Lane>(a: SharedArray<T>) -> (NdArrayTensor, NdArrayTensor)
    where
        NdArrayTensor: From<SharedArray<T>>,
    {
        let mut a = standard(a);
        let mut sigma = a.to_owned().into_shared();
        if let (Some(xs), Some(ss)) = (a.as_slice_mut(), sigma.as_slice_mut()) {
            forward_softplus_saving(xs, ss);
            return (NdArrayTensor::from(a), NdArrayTensor::from(sigma));
        }
        generic_forward_saving::<NdArray>(NdArrayTensor::from(a), Fused::Softplus)
    }

    fn backward_array<T: Lane>(
        state: SharedArray<T>,
        grad: SharedArray<T>,
        kind: Fused,
    ) -> NdArrayTensor
    where
        NdArrayTensor: From<SharedArray<T>>,
    {
        let mut g = standard(grad);
        if state.shape() == g.shape() {
            // Borrowed when already in standard layout: no copy of the state.
            let s = state.as_standard_layout();
            if let (Some(gv), Some(sv)) = (g.as_slice_mut(), s.as_slice()) {
                backward(gv, sv, kind);
                return NdArrayTensor::from(g);
            }
        }
        generic_backward::<NdArray>(NdArrayTensor::from(state), NdArrayTensor::from(g), kind)
    }

    impl SmoothKernels for NdArray {
        fn smooth_forward(x: NdArrayTensor, kind: Fused) -> NdArrayTensor {
            match x {
                NdArrayTensor::F64(s) => forward_array(s.into_shared(), kind),
                NdArrayTensor::F32(s) => forward_array(s.into_shared(), kind),
                other => generic_forward::<NdArray>(other, kind),
            }
        }

        fn smooth_forward_saving(x: NdArrayTensor, kind: Fused) -> (NdArrayTensor, NdArrayTensor) {
            if kind != Fused::Softplus {
                let y = Self::smooth_forward(x, kind);
                return (y.clone(), y);
            }
            match x {
                NdArrayTensor::F64(s) => softplus_saving_array(s.into_shared()),
                NdArrayTensor::F32(s) => softplus_saving_array(s.into_shared()),
                other => generic_forward_saving::<NdArray>(other, kind),
            }
        }

        fn smooth_backward(
            state: NdArrayTensor,
            grad: NdArrayTensor,
            kind: Fused,
        ) -> NdArrayTensor {
            match (state, grad) {
                (NdArrayTensor::F64(s), NdArrayTensor::F64(g)) => {
                    backward_array(s.into_shared(), g.into_shared(), kind)
                }
                (NdArrayTensor::F32(s), NdArrayTensor::F32(g)) => {
                    backward_array(s.into_shared(), g.into_shared(), kind)
                }
                (s, g) => generic_backward::<NdArray>(s, g, kind),
            }
        }
    }

    impl SmoothActivation for NdArray {
        fn smooth_activation(x: NdArrayTensor, kind: Fused) -> NdArrayTensor {
            Self::smooth_forward(x, kind)
        }
    }
}

/// The backward node: which activation; its state is what the forward pass saved
/// ([`SmoothKernels::smooth_forward_saving`]).
#[derive(Debug)]
struct SmoothBackward(Fused);

impl<B: Backend + SmoothKernels> Backward<B, 1> for SmoothBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::smooth_backward(state, grad, self.0)
        });
    }
}

impl<B: Backend + SmoothKernels, C: CheckpointStrategy> SmoothActivation for Autodiff<B, C> {
    fn smooth_activation(x: FloatTensor<Self>, kind: Fused) -> FloatTensor<Self> {
        let (primitive, node) = x.into_parts();
        match SmoothBackward(kind)
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, state) = B::smooth_forward_saving(primitive, kind);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::smooth_forward(primitive, kind)),
        }
    }
}
