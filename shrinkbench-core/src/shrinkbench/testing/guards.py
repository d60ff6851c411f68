"""What a plugin must leave alone: snapshots of a model's weights, buffers, grads, hooks and modes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..plugins import Registry


def _resolve(kind: str, spec_or_name: Any, spec_type: type, registry: Registry | None) -> Any:
    if isinstance(spec_or_name, spec_type):
        return spec_or_name
    if not isinstance(spec_or_name, str):
        raise TypeError(f"expected a {spec_type.__name__} or a name, got {type(spec_or_name).__name__}")
    from ..plugins import get_registry

    return (registry or get_registry()).get(kind, spec_or_name)


def _hooks(obj: Any) -> dict[str, tuple]:
    """Handles of every hook dict of a module (or of the ``torch.nn.modules.module`` globals)."""
    return {k: tuple(v) for k, v in vars(obj).items() if "hook" in k and isinstance(v, Mapping)}


def _tensor_hooks(tensor: torch.Tensor) -> tuple:
    """Handles of a tensor's ``register_hook`` and post-accumulate-grad hooks."""
    return tuple(tuple(getattr(tensor, n, None) or ()) for n in ("_backward_hooks", "_post_accumulate_grad_hooks"))


class _Snapshot:
    """A model's weights, buffers, grads, requires_grad flags, hooks and modes, to compare with later."""

    def __init__(self, model: nn.Module) -> None:
        import torch
        import torch.nn.modules.module as module_globals

        self.globals = module_globals
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.params = {n: (id(p), p.requires_grad, None if p.grad is None else p.grad.clone(), _tensor_hooks(p))
                       for n, p in model.named_parameters()}
        self.modules = {n: (m.training, _hooks(m)) for n, m in model.named_modules()}
        self.global_hooks, self.grad_enabled = _hooks(module_globals), torch.is_grad_enabled()

    def problems(self, model: nn.Module) -> list[str]:
        """What changed since the snapshot, one phrase per change."""
        import torch

        out: list[str] = []
        state = model.state_dict()
        if set(state) != set(self.state):
            added, gone = sorted(set(state) - set(self.state)), sorted(set(self.state) - set(state))
            out.append(f"changed the state_dict keys (added {added[:3]}, removed {gone[:3]})")
        for k, old in self.state.items():
            if k in state and not (state[k].shape == old.shape and torch.equal(state[k], old)):
                out.append(f"changed {'weights' if k in self.params else 'buffer'} {k!r}")
        params = dict(model.named_parameters())
        for n, (ident, requires_grad, grad, hooks) in self.params.items():
            p = params.get(n)
            if p is None or id(p) != ident:
                out.append(f"replaced parameter {n!r}")
                continue
            if p.requires_grad != requires_grad:
                out.append(f"changed requires_grad of {n!r}")
            if grad is None and p.grad is not None:
                out.append(f"left a .grad on {n!r} (it was None)")
            elif grad is not None and (p.grad is None or not torch.equal(p.grad, grad)):
                out.append(f"changed the existing .grad of {n!r}")
            if _tensor_hooks(p) != hooks:
                out.append(f"left tensor hooks on parameter {n!r}")
        for n, module in model.named_modules():
            training, hooks = self.modules.get(n, (module.training, _hooks(module)))
            if module.training != training:
                out.append(f"changed the mode of module {n or '<model>'!r} to {'eval' if training else 'train'}")
            if _hooks(module) != hooks:
                out.append(f"changed the hooks of module {n or '<model>'!r}")
        if _hooks(self.globals) != self.global_hooks:
            out.append("changed the global module hooks (torch.nn.modules.module)")
        if torch.is_grad_enabled() != self.grad_enabled:
            out.append("changed torch's grad mode")
        return out

    def assert_unchanged(self, model: nn.Module, who: str) -> None:
        """Raise ``AssertionError`` listing (up to 5 of) the changes since the snapshot."""
        problems = self.problems(model)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise AssertionError(f"{who} must leave the model as it found it, but it {'; '.join(problems[:5])}{more}")


def _one_thread(enabled: bool) -> contextlib.AbstractContextManager:
    """Run torch on one thread for tiny models (on a busy 2-core machine a second OpenMP thread makes each
    small op ~100x slower); the previous setting is restored."""
    from ..threads import torch_threads

    return torch_threads(1 if enabled else None)


def _prepare(model: nn.Module, variant: int) -> Callable[[], None]:
    """Put the model in a state a careless strategy would disturb; return the function that undoes it.

    Even variants: train mode with the first leaf module in eval mode (catches restoring only the root's
    mode) and a no-op forward hook (catches clearing hooks). Odd variants: eval mode and an existing
    ``.grad`` on every parameter (catches ``zero_grad``).
    """
    import torch

    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    handle = None
    if variant % 2 == 0:
        model.train()
        next((m for m in model.modules() if not any(True for _ in m.children())), model).eval()
        handle = model.register_forward_hook(lambda *_: None)
    else:
        model.eval()
        gen = torch.Generator().manual_seed(variant)
        for p, _ in grads:
            p.grad = torch.randn(p.shape, generator=gen).to(p)

    def undo() -> None:
        for module, training in modes:
            module.training = training
        for p, grad in grads:
            p.grad = grad
        if handle is not None:
            handle.remove()

    return undo


# -- conformance checks ----------------------------------------------------------------------------------

