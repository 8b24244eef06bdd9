"""The app's screens, one per file with its look in a sibling .tcss."""
