"""PyTorch twins of kasc's SERFR-CNN-32 and MobileNetV2 teacher, for a speed peer.

Each twin has the same layers in the same order, the same output shapes (PyTorch's
explicit padding and ``ceil_mode`` pooling reproduce TensorFlow's 'same' shapes), the
same parameter count (PyTorch parameters plus BatchNorm running statistics, which Keras
counts as weights) and the same MACs (convolutions and linear layers, counted with
forward hooks as kasc's audit counts Conv2D / DepthwiseConv2D / Dense). Tensors are
(batch, 1, frames, mels) in PyTorch's layout.

Run as a server by ``benchmarks/train_speed.py`` (``--serve``): it reads one JSON
request per line on stdin and answers one JSON line, so the PyTorch steps run in their
own process (own thread pools, no contention with TensorFlow's) yet interleaved with
kasc's steps in the same benchmark run.
"""

from __future__ import annotations

import json
import sys
import time

import torch
from torch import nn

MOBILENETV2_TABLE = (  # (expansion t, channels c, repeats n, stride s), as kasc.models.teachers
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, act=nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_ch, momentum=0.1, eps=1e-3)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class ResidualPair(nn.Module):
    """RFR sub-block: conv-BN-ReLU, conv-BN, + input, ReLU."""

    def __init__(self, width: int, k1: int, k2: int):
        super().__init__()
        self.a, self.b = conv_bn(width, width, k1), conv_bn(width, width, k2, act=None)

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + x)


class SqueezeExcite(nn.Module):
    def __init__(self, width: int, reduction: int = 4):
        super().__init__()
        self.reduce = nn.Conv2d(width, width // reduction, 1)
        self.expand = nn.Conv2d(width // reduction, width, 1)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(s))))


class Transition(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv = conv_bn(width, width, 1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.conv(x) + x)


class Head(nn.Module):
    def __init__(self, channels: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Linear(channels, n_classes)

    def forward(self, x):
        return self.logits(self.dropout(x.mean(dim=(2, 3))))


def serfr_cnn(width: int = 32, n_classes: int = 10) -> nn.Module:
    """SERFR-CNN-<width> as kasc builds it (kasc.models.serfr_cnn), returning logits."""
    blocks = [conv_bn(1, width, 5, stride=2), nn.AvgPool2d((2, 3), ceil_mode=True, count_include_pad=False)]
    for kernels in ((1, 3), (1, 1), (1, 1)):
        blocks += [ResidualPair(width, *kernels) for _ in range(3)]
        blocks += [SqueezeExcite(width), Transition(width)]
    blocks += [conv_bn(width, 256, 1), Head(256, n_classes)]
    return nn.Sequential(*blocks)


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, expansion: int, out_ch: int, stride: int):
        super().__init__()
        hidden = in_ch * expansion
        layers = [conv_bn(in_ch, hidden, 1, act=nn.ReLU6)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6), conv_bn(hidden, out_ch, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenetv2(n_classes: int = 10, dropout: float = 0.2) -> nn.Module:
    """kasc's MobileNetV2 teacher at width 1.0 (kasc.models.teachers.build_mobilenetv2)."""
    blocks, channels = [conv_bn(1, 32, 3, stride=2, act=nn.ReLU6)], 32
    for expansion, out_ch, repeats, stride in MOBILENETV2_TABLE:
        for i in range(repeats):
            blocks.append(InvertedResidual(channels, expansion, out_ch, stride if i == 0 else 1))
            channels = out_ch
    blocks += [conv_bn(channels, 1280, 1, act=nn.ReLU6), Head(1280, n_classes, dropout)]
    return nn.Sequential(*blocks)


TWINS = {"serfr_cnn": serfr_cnn, "mobilenetv2": mobilenetv2}


def count_params(model: nn.Module) -> int:
    """Parameters plus BatchNorm running mean and variance (what Keras counts)."""
    stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                if isinstance(m, nn.BatchNorm2d))
    return sum(p.numel() for p in model.parameters()) + stats


def count_macs(model: nn.Module, frames: int, mels: int) -> int:
    """Multiply-accumulates of convolutions and linear layers for one (1, 1, frames, mels) input."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * kh * kw * module.in_channels // module.groups
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, frames, mels))
    for handle in handles:
        handle.remove()
    return total


class Trainer:
    """One model, its AdamW optimiser (decoupled weight decay, as Keras' Adam(weight_decay))
    and one fixed in-memory batch."""

    def __init__(self, name: str, batch: int, frames: int, mels: int, channels_last: bool):
        torch.manual_seed(0)
        self.model = TWINS[name]()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-3)
        self.x = torch.randn(batch, 1, frames, mels)
        self.y = torch.nn.functional.one_hot(torch.randint(0, 10, (batch,)), 10).float()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.model.train()

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()


def serve() -> None:
    """Answer requests on stdin: {"op": "counts", ...} or {"op": "time", ...}."""
    trainers: dict[tuple, Trainer] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "counts":
            model = TWINS[request["model"]]()
            reply = {"params": count_params(model), "macs": count_macs(model, request["frames"], request["mels"])}
        else:
            key = (request["model"], request["batch"], request["frames"], request["mels"], request["channels_last"])
            if key not in trainers:
                trainers[key] = Trainer(*key)
                for _ in range(2):
                    trainers[key].step()
            start = time.perf_counter()
            for _ in range(request["steps"]):
                trainers[key].step()
            reply = {"seconds": time.perf_counter() - start}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit("usage: python benchmarks/torch_twins.py --serve (driven by benchmarks/train_speed.py)")
