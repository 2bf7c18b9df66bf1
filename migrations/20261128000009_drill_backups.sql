-- A restore drill may first take a fresh Velero backup of the namespace and restore that.
ALTER TABLE drills ADD COLUMN create_backup boolean NOT NULL DEFAULT false;
