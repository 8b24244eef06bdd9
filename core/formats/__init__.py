"""Session files in and out: XML schema, reader, writer, kyzel dialect, recovery, notebooks."""
