"""transformation_runner package."""
