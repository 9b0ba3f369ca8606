#include "gridgate/engine/asset_map.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gridgate/engine/schedule.hpp"

using namespace gridgate::engine;
using gridgate::sdk::CommandType;

TEST(ColumnTarget, EvColumnsChargeTheirVehicle) {
    EXPECT_EQ(column_target("ev_001_kw"), (ColumnTarget{"ev_001", CommandType::SetChargeRate}));
    EXPECT_EQ(column_target("ev_bay_7_kw"), (ColumnTarget{"ev_bay_7", CommandType::SetChargeRate}));
}

TEST(ColumnTarget, SingleBatteryColumns) {
    EXPECT_EQ(column_target("battery_charge_kw"),
              (ColumnTarget{"battery", CommandType::SetChargeRate}));
    EXPECT_EQ(column_target("battery_discharge_kw"),
              (ColumnTarget{"battery", CommandType::SetDischargeRate}));
}

TEST(ColumnTarget, SeveralBatteries) {
    EXPECT_EQ(column_target("battery_2_charge_kw"),
              (ColumnTarget{"battery_2", CommandType::SetChargeRate}));
    EXPECT_EQ(column_target("battery_west_discharge_kw"),
              (ColumnTarget{"battery_west", CommandType::SetDischargeRate}));
}

TEST(ColumnTarget, OtherColumnsFollowNoConvention) {
    for (const char* name :
         {"price_eur_mwh", "ev_001", "ev__kw", "ev_kw", "EV_001_kw", "battery_kw",
          "battery__charge_kw", "battery_soc", "pv_kw", "battery_1_kw", "", "timestamp"}) {
        EXPECT_FALSE(column_target(name)) << name;
    }
}

TEST(PlanColumns, MapsConventionColumnsAndListsTheOthers) {
    AssetMap map{{"ev_001", "ast_charger_bay_1"}, {"battery", "ast_batt_001"}};
    auto plan = plan_columns(
        {"price", "ev_001_kw", "battery_charge_kw", "pv_forecast_kw", "battery_discharge_kw"}, map);
    ASSERT_EQ(plan.mapped.size(), 3u);
    EXPECT_EQ(plan.mapped[0].column, 1u);
    EXPECT_EQ(plan.mapped[0].asset_id, "ast_charger_bay_1");
    EXPECT_EQ(plan.mapped[0].command_type, CommandType::SetChargeRate);
    EXPECT_EQ(plan.mapped[1].column, 2u);
    EXPECT_EQ(plan.mapped[1].asset_id, "ast_batt_001");
    EXPECT_EQ(plan.mapped[2].command_type, CommandType::SetDischargeRate);
    EXPECT_EQ(plan.ignored_columns, (std::vector<std::string>{"price", "pv_forecast_kw"}));
}

TEST(PlanColumns, MissingKeyIsAnErrorNamingTheColumn) {
    AssetMap map{{"ev_001", "ast_a"}};
    try {
        plan_columns({"ev_001_kw", "ev_002_kw"}, map);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::UnknownAsset);
        EXPECT_NE(std::string(e.what()).find("'ev_002_kw'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("'ev_002'"), std::string::npos) << e.what();
    }
}

TEST(PlanColumns, KeyMappingToAnUnknownAssetIsAnError) {
    AssetMap map{{"battery_2", "ast_nowhere"}, {"ev_001", "ast_a"}};
    auto known = [](std::string_view id) { return id == "ast_a"; };
    EXPECT_NO_THROW(plan_columns({"ev_001_kw"}, map, known));
    try {
        plan_columns({"ev_001_kw", "battery_2_discharge_kw"}, map, known);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::UnknownAsset);
        EXPECT_NE(std::string(e.what()).find("'battery_2_discharge_kw'"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("'ast_nowhere'"), std::string::npos);
    }
}

TEST(PlanColumns, EmptyAssetIdIsUnknown) {
    AssetMap map{{"ev_001", ""}};
    EXPECT_THROW(plan_columns({"ev_001_kw"}, map), ScheduleError);
}

TEST(PlanColumns, TwoColumnsDrivingOneAssetQuantityAreRefused) {
    AssetMap map{{"battery", "ast_b"}, {"battery_1", "ast_b"}};
    // Same asset, different quantities: fine.
    EXPECT_NO_THROW(plan_columns({"battery_charge_kw", "battery_1_discharge_kw"}, map));
    try {
        plan_columns({"battery_charge_kw", "battery_1_charge_kw"}, map);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::BadInput);
        EXPECT_NE(std::string(e.what()).find("'battery_charge_kw' and 'battery_1_charge_kw'"),
                  std::string::npos)
            << e.what();
    }
}
