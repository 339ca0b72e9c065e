-- Lets one statement refuse itself: a group commit of authorizations aborts whole (as a
-- unique violation on headset_sessions_pkey) when any of its session ids already has a row,
-- so a session row is never written without its charge.
CREATE FUNCTION mr_assert(ok boolean, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'unique_violation',
            CONSTRAINT = 'headset_sessions_pkey';
    END IF;
    RETURN true;
END
$$;
