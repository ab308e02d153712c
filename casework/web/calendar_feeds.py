"""Pages of the meeting calendar and its iCalendar feeds."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
