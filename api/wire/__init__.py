"""Request and response models of the resource routes (Pydantic at the HTTP edge only)."""
