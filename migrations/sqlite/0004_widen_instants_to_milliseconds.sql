-- Instants are now stored as fixed-width UTC text with milliseconds ('YYYY-MM-DDTHH:MM:SS.mmmZ'),
-- whatever precision they arrive with, so text order stays time order for every instant column.
UPDATE price_points SET start_at = strftime('%Y-%m-%dT%H:%M:%fZ', start_at),
                        fetched_at = strftime('%Y-%m-%dT%H:%M:%fZ', fetched_at);
UPDATE weather_points SET at = strftime('%Y-%m-%dT%H:%M:%fZ', at),
                          fetched_at = strftime('%Y-%m-%dT%H:%M:%fZ', fetched_at);
UPDATE forecast_steps SET start_at = strftime('%Y-%m-%dT%H:%M:%fZ', start_at),
                          made_at = strftime('%Y-%m-%dT%H:%M:%fZ', made_at);
