"""The builder: Dockerfiles into images, a service over images/ and containers/."""
