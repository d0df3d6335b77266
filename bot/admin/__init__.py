"""Service managers keep the directory true: the operations, and the words of the admin chat."""
