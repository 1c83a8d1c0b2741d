-- Desktop networking (issue 13): each pool's desktops get a virtio-net card
-- on a tap that vdi-hostd attaches to this Linux bridge on their host,
-- optionally as an untagged member of one VLAN (the bridge then needs
-- vlan_filtering). NULL bridge: no network card.
ALTER TABLE pools ADD COLUMN bridge text CHECK (bridge ~ '^[A-Za-z0-9_.-]{1,15}$');
ALTER TABLE pools ADD COLUMN vlan integer CHECK (vlan BETWEEN 1 AND 4094);
ALTER TABLE pools ADD CONSTRAINT pools_vlan_needs_bridge CHECK (vlan IS NULL OR bridge IS NOT NULL);
