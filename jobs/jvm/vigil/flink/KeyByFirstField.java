package vigil.flink;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.types.Row;

/**
 * {@code row -> Row(row[0], row)}: the shape PyFlink's keyed Python operators take (key first,
 * keyed by PyFlink's own {@code KeyByKeySelector}), built in the JVM so that keying a stream
 * costs no Python operator. Copies the fields by position, so a row coming out of the Table
 * API (named or positional) is handed on as a plain positional row.
 */
public class KeyByFirstField implements MapFunction<Row, Row> {

    private static final long serialVersionUID = 1L;

    @Override
    public Row map(Row in) {
        int n = in.getArity();
        Row value = new Row(in.getKind(), n);
        for (int i = 0; i < n; i++) {
            value.setField(i, in.getField(i));
        }
        return Row.of(value.getField(0), value);
    }
}
