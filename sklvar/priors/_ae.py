"""Dense auto-encoder prior (paper Table 1, "AE")."""

from torch import nn

from ._base import Prior

# layer sizes of the MNIST auto-encoder of the authors' public code (784 inputs)
_REF_FEATURES = 784
_REF_ENCODER = (120, 40)
_REF_LATENT = 20
_REF_DECODER = (200, 400)


def _scaled(size, n_features, minimum):
    return max(minimum, int(round(size * n_features / _REF_FEATURES)))


class AutoEncoderPrior(Prior):
    r"""Dense auto-encoder :math:`\Phi(x) = \phi(\psi(x))`.

    Encoder ``n_features -> hidden_encoder... -> n_components`` and decoder
    ``n_components -> hidden_decoder... -> n_features``, all linear layers with
    biases, ReLU in front of every linear layer of each side except the first
    one, linear output and no non-linearity between encoder and decoder (the
    MNIST AE of the authors' public code).

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample; it is flattened.
    n_components : int or None, default=None
        Latent size. None scales the reference 20 (for 784 inputs) to
        ``n_features``, at least 2 (at most ``n_features``).
    hidden_encoder, hidden_decoder : tuple of int or None, default=None
        Hidden layer sizes. None scales the reference (120, 40) and (200, 400)
        to ``n_features``, at least 8 units each; for 784 features the defaults
        are exactly the reference sizes.
    """

    def __init__(self, shape, *, n_components=None, hidden_encoder=None,
                 hidden_decoder=None):
        super().__init__()
        self.shape = tuple(shape)
        d = 1
        for s in self.shape:
            d *= s
        if n_components is None:
            n_components = min(d, _scaled(_REF_LATENT, d, 2))
        if hidden_encoder is None:
            hidden_encoder = tuple(_scaled(h, d, 8) for h in _REF_ENCODER)
        if hidden_decoder is None:
            hidden_decoder = tuple(_scaled(h, d, 8) for h in _REF_DECODER)
        for name, sizes in (("hidden_encoder", hidden_encoder),
                            ("hidden_decoder", hidden_decoder),
                            ("n_components", (n_components,))):
            if any(int(s) < 1 for s in sizes):
                raise ValueError(
                    f"prior_params[{name!r}] must hold positive ints, got {sizes!r}."
                )
        self.encoder = self._mlp([d, *hidden_encoder, n_components])
        self.decoder = self._mlp([n_components, *hidden_decoder, d])

    @staticmethod
    def _mlp(sizes):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(int(a), int(b)))
        return nn.Sequential(*layers)

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        return self.decoder(self.encoder(flat)).reshape(x.shape)
