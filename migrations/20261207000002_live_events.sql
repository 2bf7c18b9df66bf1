-- Live updates: every change to a request, a namespace, a drill or a cluster's inventory
-- notifies `berth_events` when its transaction commits, so pages showing that state refresh
-- without a reload (GET /api/v1/events streams them). A trigger, so no writer can forget
-- one; the payload names what changed and the team it belongs to, never its content.
CREATE FUNCTION berth_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    team text;
BEGIN
    IF TG_ARGV[0] = 'cluster' THEN
        PERFORM pg_notify('berth_events', json_build_object('kind', 'cluster', 'id', NEW.cluster_id)::text);
        RETURN NULL;
    END IF;
    IF TG_ARGV[0] = 'drill' THEN
        SELECT t.name INTO team FROM namespaces n JOIN teams t ON t.id = n.team_id WHERE n.id = NEW.namespace_id;
    ELSE
        SELECT t.name INTO team FROM teams t WHERE t.id = NEW.team_id;
    END IF;
    PERFORM pg_notify('berth_events', json_build_object('kind', TG_ARGV[0], 'id', NEW.id, 'team', team)::text);
    RETURN NULL;
END;
$$;

-- Only changes a page shows: a periodic drift or usage check touches every namespace and
-- says nothing new about its state.
CREATE TRIGGER namespace_requests_created AFTER INSERT ON namespace_requests
    FOR EACH ROW EXECUTE FUNCTION berth_notify_change('request');
CREATE TRIGGER namespace_requests_changed AFTER UPDATE ON namespace_requests
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.last_error IS DISTINCT FROM NEW.last_error
                       OR OLD.held_by IS DISTINCT FROM NEW.held_by OR OLD.git_commit IS DISTINCT FROM NEW.git_commit
                       OR OLD.spec IS DISTINCT FROM NEW.spec)
    EXECUTE FUNCTION berth_notify_change('request');
CREATE TRIGGER namespaces_created AFTER INSERT ON namespaces
    FOR EACH ROW EXECUTE FUNCTION berth_notify_change('namespace');
CREATE TRIGGER namespaces_changed AFTER UPDATE ON namespaces
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.last_error IS DISTINCT FROM NEW.last_error
                       OR OLD.held_by IS DISTINCT FROM NEW.held_by OR OLD.delivery_status IS DISTINCT FROM NEW.delivery_status
                       OR OLD.git_commit IS DISTINCT FROM NEW.git_commit OR OLD.spec IS DISTINCT FROM NEW.spec)
    EXECUTE FUNCTION berth_notify_change('namespace');
CREATE TRIGGER drills_notify AFTER INSERT OR UPDATE ON drills
    FOR EACH ROW EXECUTE FUNCTION berth_notify_change('drill');
CREATE TRIGGER cluster_inventory_notify AFTER INSERT OR UPDATE ON cluster_inventory
    FOR EACH ROW EXECUTE FUNCTION berth_notify_change('cluster');
