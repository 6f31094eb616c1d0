-- The size of each event's `data` as compact JSON text, written with the event (NULL for
-- events stored before: a pull measures those from their text). A pull page ends with the
-- event that brings its data to a budget; with the sizes in the row, the page's range is
-- found from them before the page is read, so rows past its end are never sent.
ALTER TABLE events ADD COLUMN data_bytes INTEGER NULL;
