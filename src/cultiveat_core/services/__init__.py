"""The use-case API: the only writers of core tables, checking permissions, firing events."""
