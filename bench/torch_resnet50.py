#!/usr/bin/python3
"""PyTorch twin of the spec's ResNet-50, for the benchmark in bench/resnet50.ts.

Layer for layer the same network as the Keras model of the spec (and src/model's ResNet50):
ZeroPad 3, conv1 7x7/2 with bias, BatchNorm (eps 1e-3, Keras momentum 0.99 = torch momentum 0.01), ReLU,
MaxPool 3x3/2, stages 2-5 of bottleneck blocks whose convolutions all have biases, the stride s of a
convolutional block on its first 1x1 convolution (and on the 1x1 shortcut), as in the spec, not on the 3x3
as in torchvision; AvgPool 2x2, flatten, fc 2048 -> classes with softmax.

Run with Debian's /usr/bin/python3 (python3-torch). Modes:
  train   median ms per training step (Adam, cross-entropy) on a fixed random batch, and peak RSS
  infer   median ms per inference batch (eval mode, torch.no_grad, softmax included), and peak RSS
  export  write the model (eval mode, NCHW float32 input, dynamic batch) as ONNX to --onnx
  params  print the parameter count
Progress goes to stderr; the result is one line on stdout: BENCH_RESULT <json>.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch
from torch import nn

#: Parameters of the spec's ResNet-50 at 64x64x3 with 6 classes, as Keras counts them
#: (trainable weights plus BatchNorm's moving mean and variance).
SPEC_PARAM_COUNT = 23_600_006

#: Keras BatchNormalization defaults: epsilon 1e-3, momentum 0.99 (torch's momentum is 1 - Keras's).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm over the channels axis with Keras's defaults."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class IdentityBlock(nn.Module):
    """The spec's identity block: 1x1 -> fxf 'same' -> 1x1 on the main path, the input as the shortcut."""

    def __init__(self, in_channels: int, f: int, filters: tuple[int, int, int]):
        super().__init__()
        f1, f2, f3 = filters
        self.conv2a = nn.Conv2d(in_channels, f1, 1, stride=1, padding=0, bias=True)
        self.bn2a = batch_norm(f1)
        self.conv2b = nn.Conv2d(f1, f2, f, stride=1, padding=(f - 1) // 2, bias=True)
        self.bn2b = batch_norm(f2)
        self.conv2c = nn.Conv2d(f2, f3, 1, stride=1, padding=0, bias=True)
        self.bn2c = batch_norm(f3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.relu(self.bn2a(self.conv2a(x)))
        x = self.relu(self.bn2b(self.conv2b(x)))
        x = self.bn2c(self.conv2c(x))
        return self.relu(x + shortcut)


class ConvolutionalBlock(nn.Module):
    """The spec's convolutional block: stride s on the first 1x1 of the main path and on the 1x1 shortcut."""

    def __init__(self, in_channels: int, f: int, filters: tuple[int, int, int], s: int):
        super().__init__()
        f1, f2, f3 = filters
        self.conv2a = nn.Conv2d(in_channels, f1, 1, stride=s, padding=0, bias=True)
        self.bn2a = batch_norm(f1)
        self.conv2b = nn.Conv2d(f1, f2, f, stride=1, padding=(f - 1) // 2, bias=True)
        self.bn2b = batch_norm(f2)
        self.conv2c = nn.Conv2d(f2, f3, 1, stride=1, padding=0, bias=True)
        self.bn2c = batch_norm(f3)
        self.conv1 = nn.Conv2d(in_channels, f3, 1, stride=s, padding=0, bias=True)
        self.bn1 = batch_norm(f3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.bn1(self.conv1(x))
        x = self.relu(self.bn2a(self.conv2a(x)))
        x = self.relu(self.bn2b(self.conv2b(x)))
        x = self.bn2c(self.conv2c(x))
        return self.relu(x + shortcut)


def stage(in_channels: int, filters: tuple[int, int, int], s: int, identity_blocks: int) -> nn.Sequential:
    """One stage: a convolutional block ('a') followed by identity blocks ('b', 'c', ...), all with f = 3."""
    blocks: list[nn.Module] = [ConvolutionalBlock(in_channels, 3, filters, s)]
    blocks += [IdentityBlock(filters[2], 3, filters) for _ in range(identity_blocks)]
    return nn.Sequential(*blocks)


class ResNet50(nn.Module):
    """The spec's ResNet-50 for 64x64x3 inputs. forward() returns logits; softmax is applied by the loss
    (cross-entropy on logits equals categorical cross-entropy on the softmax) or by predict()."""

    def __init__(self, classes: int = 6):
        super().__init__()
        self.stem = nn.Sequential(
            nn.ZeroPad2d(3),
            nn.Conv2d(3, 64, 7, stride=2, padding=0, bias=True),  # conv1
            batch_norm(64),  # bn_conv1
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.stage2 = stage(64, (64, 64, 256), 1, 2)
        self.stage3 = stage(256, (128, 128, 512), 2, 3)
        self.stage4 = stage(512, (256, 256, 1024), 2, 5)
        self.stage5 = stage(1024, (512, 512, 2048), 2, 2)
        self.avg_pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(2048, classes)
        for m in self.modules():  # Keras's defaults: glorot_uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage5(self.stage4(self.stage3(self.stage2(x))))
        x = torch.flatten(self.avg_pool(x), 1)  # 1x1 spatial at 64x64 input: NHWC and NCHW flatten agree
        return self.fc(x)


class Predictor(nn.Module):
    """The model with its softmax, as Keras's predict() returns it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, trainable + BatchNorm moving statistics as Keras counts them)."""
    trainable = sum(p.numel() for p in model.parameters())
    moving = sum(b.numel() for name, b in model.named_buffers() if name.endswith(('running_mean', 'running_var')))
    return trainable, trainable + moving


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), in MiB."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


def log(message: str) -> None:
    print(f'[torch] {message}', file=sys.stderr, flush=True)


def timed_median(label: str, fn, warmup: int, steps: int) -> tuple[float, list[float]]:
    """Runs fn warmup times untimed, then steps times timed; returns (median ms, all ms)."""
    for i in range(warmup):
        t0 = time.perf_counter()
        fn()
        log(f'{label} warm-up {i + 1}/{warmup}: {(time.perf_counter() - t0) * 1e3:.0f} ms')
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        log(f'{label} {i + 1}/{steps}: {times[-1]:.0f} ms')
    return statistics.median(times), times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('mode', choices=['train', 'infer', 'export', 'params'])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--classes', type=int, default=6)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--onnx', help='output path for export mode')
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = ResNet50(args.classes)
    trainable, total = param_counts(model)
    log(f'torch {torch.__version__}, {torch.get_num_threads()} threads, params {total:,} ({trainable:,} trainable)')
    if args.size == 64 and args.classes == 6 and total != SPEC_PARAM_COUNT:
        log(f'error: parameter count {total:,} differs from the spec\'s {SPEC_PARAM_COUNT:,}')
        return 1

    result = {
        'side': 'torch', 'mode': args.mode, 'torch': torch.__version__, 'threads': torch.get_num_threads(),
        'params': total, 'trainableParams': trainable, 'batch': args.batch,
    }
    x = torch.randn(args.batch, 3, args.size, args.size)
    if args.mode == 'params':
        pass
    elif args.mode == 'export':
        if not args.onnx:
            parser.error('export needs --onnx PATH')
        predictor = Predictor(model).eval()
        tmp = args.onnx + '.tmp'
        with torch.no_grad(), warnings.catch_warnings():
            # ZeroPad2d exports as Pad with pads built by a reversed Slice, which constant folding skips: harmless.
            warnings.filterwarnings('ignore', message='Constant folding - Only steps=1')
            torch.onnx.export(predictor, x, tmp, input_names=['input'], output_names=['probabilities'],
                              dynamic_axes={'input': {0: 'batch'}, 'probabilities': {0: 'batch'}},
                              opset_version=13, do_constant_folding=True)
        os.replace(tmp, args.onnx)
        log(f'exported {args.onnx}')
        result['onnx'] = args.onnx
    else:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        if args.mode == 'train':
            labels = torch.randint(0, args.classes, (args.batch,))
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # Keras's Adam defaults
            loss_fn = nn.CrossEntropyLoss()

            def step() -> None:
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), labels)
                loss.backward()
                optimizer.step()
                loss.item()

            result['medianMs'], result['timesMs'] = timed_median('train step', step, args.warmup, args.steps)
        else:
            predictor = Predictor(model).eval()

            def infer() -> None:
                with torch.no_grad():
                    predictor(x).sum().item()

            result['medianMs'], result['timesMs'] = timed_median('inference', infer, args.warmup, args.steps)
    result['peakRssMiB'] = peak_rss_mib()
    print('BENCH_RESULT ' + json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
