"""Golden-path templates: versioned, parameterised Score workloads with override bounds.

Pure functions, no database: parse a Template document into a
:class:`TemplateVersion`, :func:`render` it for an application (overrides outside
the bounds come back as :class:`BoundViolation`), and :func:`upgrade` an
application to a new version by :func:`three_way_merge`.
"""

from __future__ import annotations

from plinth.capabilities.templates.bounds import Bound, BoundViolation, format_path, parse_path
from plinth.capabilities.templates.merge import MergeConflict, MergeResult, three_way_merge
from plinth.capabilities.templates.model import (
    Application,
    TemplateVersion,
    builtin_templates,
    latest,
    parse_version,
)
from plinth.capabilities.templates.render import Rendering, render, resolve_parameters
from plinth.capabilities.templates.upgrade import UpgradeResult, upgrade

__all__ = [
    "Application",
    "Bound",
    "BoundViolation",
    "MergeConflict",
    "MergeResult",
    "Rendering",
    "TemplateVersion",
    "UpgradeResult",
    "builtin_templates",
    "format_path",
    "latest",
    "parse_path",
    "parse_version",
    "render",
    "resolve_parameters",
    "three_way_merge",
    "upgrade",
]
