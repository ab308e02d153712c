"""Pages of the meeting and its agenda."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
