"""Relit's renderers: a torch differentiable renderer (fitting, reference renders)
and a ModernGL real-time renderer (viewport, fast exports), one shading model."""
